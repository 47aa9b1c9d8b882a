//! The registry upload protocol: what drag sends to put blobs and manifests into a
//! repository, and what it checks of every answer.
//!
//! The parts, in the order an image goes up: [`source`] says where a blob's bytes come from
//! (a pulled blob stream, a file), [`body`] turns them into a request body verified while it
//! streams, [`blob`] uploads one blob (HEAD, mount, monolithic PUT or PATCH chunks with
//! resumption), [`manifest`] puts a manifest byte for byte. Commands (`drag copy`) decide what
//! to send and in which order: blobs before the manifest that names them, an index after its
//! manifests. Nothing here trusts the registry: every `Range`, `Location` and
//! `Docker-Content-Digest` is checked before the next step depends on it.

pub(crate) mod blob;
pub(crate) mod body;
pub(crate) mod manifest;
pub(crate) mod send;
pub(crate) mod source;

/// How blobs are cut for upload.
///
/// Bodies stream from their source whatever the size, so memory does not decide the limits.
/// A monolithic PUT is one request, but when it breaks the whole blob goes again; chunks cost
/// one round trip each but a break costs at most the chunk in flight. Below 8 MiB a retry
/// from zero costs less than the extra round trips; 16 MiB chunks keep those few (63 for a
/// 1 GiB layer) while a dropped connection loses a second or two of upload.
#[derive(Clone, Copy, Debug)]
pub struct UploadLimits {
    /// Blobs up to this size go up in one PUT.
    pub monolithic_max: u64,
    /// The size of each PATCH for larger blobs.
    pub chunk: u64,
}

impl Default for UploadLimits {
    fn default() -> UploadLimits {
        UploadLimits {
            monolithic_max: 8 << 20,
            chunk: 16 << 20,
        }
    }
}

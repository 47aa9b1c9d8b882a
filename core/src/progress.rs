//! Progress events: what a pull reports while it runs, for a front end to render.
//!
//! The core never prints. It sends [`Event`]s to a [`Progress`] sink; the CLI draws bars on a
//! terminal and plain lines elsewhere, a library user may log them or ignore them.

use crate::digest::Digest;

/// Something that happened during a pull. Fields from the registry (reasons, notes) are not
/// escaped: pass them through [`crate::terminal_text`] before showing them on a terminal.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A reference was resolved to an image manifest.
    Resolved {
        /// The full name resolved (`docker.io/library/alpine:3.9`).
        reference: String,
        /// The image manifest's digest.
        digest: Digest,
        /// The platform chosen from an index (`linux/arm64/v8`); None without an index.
        platform: Option<String>,
    },
    /// Blobs about to be fetched (downloaded, or found in the cache), before the first of
    /// them starts: how many and their total size as the manifest gives it. Sent once per
    /// batch (an image's config, then its layers), so totals add up over a pull.
    Fetching {
        /// How many distinct blobs.
        blobs: usize,
        /// Their total size in bytes.
        bytes: u64,
    },
    /// A blob download (or cache hit) begins.
    BlobStarted {
        /// The blob.
        digest: Digest,
        /// Its size in bytes, from the manifest.
        size: u64,
        /// What it is, for a label (`config sha256:0123456789ab`, `layer 2/5 sha256:...`).
        what: String,
    },
    /// Bytes received so far for a blob.
    BlobProgress {
        /// The blob.
        digest: Digest,
        /// Bytes received, counting any resumed part.
        done: u64,
    },
    /// A blob is verified and stored.
    BlobDone {
        /// The blob.
        digest: Digest,
        /// True when it was already in the cache.
        cached: bool,
    },
    /// A blob download failed for a moment and is being retried or resumed.
    BlobRetry {
        /// The blob.
        digest: Digest,
        /// What went wrong.
        reason: String,
    },
    /// Writing the output has begun.
    Writing {
        /// The output path, or `-` for standard output.
        path: String,
    },
    /// How far writing the output has come; sent a few times a second while it is written.
    WriteProgress {
        /// Bytes written so far.
        done: u64,
        /// Bytes the output is expected to take; 0 until the writer knows. For `rootfs` an
        /// estimate (the layers' uncompressed sizes), so `done` may pass it.
        total: u64,
    },
    /// Something the user should know (a fallback tag was used, a warning).
    Note(String),
}

/// Receives a pull's events; called from the pull's tasks, so it must be cheap and thread-safe.
pub trait Progress: Send + Sync {
    /// Handles one event.
    fn event(&self, event: Event);
}

/// Ignores every event.
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: Event) {}
}

/// Calls a closure for every event (handy for library users and tests).
pub struct FnProgress<F>(pub F);

impl<F: Fn(Event) + Send + Sync> Progress for FnProgress<F> {
    fn event(&self, event: Event) {
        (self.0)(event)
    }
}

//! Layers: deterministic tarballs built entry by entry, then compressed.
//!
//! Tests need layers with exact, reproducible bytes (digests appear in
//! assertions and golden files) and they need hostile entries (`../x`,
//! absolute paths, whiteouts, hard links to missing files). The `tar` crate's
//! convenience methods refuse such paths, so headers are written here with
//! raw name bytes and GNU long-name records, and nothing depends on the
//! clock or on the machine's users.

use std::io::Write;

use bytes::Bytes;

use super::blob::Blob;
use super::media_types;
use crate::digest::sha256_digest;

/// The fixed modification time of entries unless [`LayerBuilder::mtime`] says
/// otherwise (2023-11-14T22:13:20Z), so layer digests never depend on the clock.
pub const DEFAULT_MTIME: u64 = 1_700_000_000;

/// How a layer's tar is compressed in its blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The OCI layer media type for this compression.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => media_types::OCI_LAYER,
            Compression::Gzip => media_types::OCI_LAYER_GZIP,
            Compression::Zstd => media_types::OCI_LAYER_ZSTD,
        }
    }

    /// Compresses `data`; deterministic (gzip header has mtime 0, no name).
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        match self {
            Compression::None => data.to_vec(),
            Compression::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                encoder.write_all(data).expect("gzip into memory");
                encoder.finish().expect("gzip into memory")
            }
            Compression::Zstd => zstd::encode_all(data, 3).expect("zstd into memory"),
        }
    }
}

/// A layer blob plus what a config needs to reference it.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The blob as a registry serves it (compressed).
    pub blob: Blob,
    /// `sha256:` of the uncompressed tar: what the config's `rootfs.diff_ids` lists.
    pub diff_id: String,
    /// The uncompressed tar.
    pub uncompressed: Vec<u8>,
    /// How `blob` was made from `uncompressed`. `Some` lets [`ImageBuilder`]
    /// pick the media type matching the manifest format; `None` (from
    /// [`Layer::raw`]) keeps `blob.media_type` exactly as given.
    ///
    /// [`ImageBuilder`]: super::ImageBuilder
    pub compression: Option<Compression>,
}

impl Layer {
    /// A layer from an already-made tar, compressed as asked.
    pub fn from_tar(uncompressed: Vec<u8>, compression: Compression) -> Layer {
        let blob = Blob::new(
            compression.compress(&uncompressed),
            compression.oci_media_type(),
        );
        Layer {
            blob,
            diff_id: sha256_digest(&uncompressed),
            uncompressed,
            compression: Some(compression),
        }
    }

    /// A layer whose blob is exactly `bytes` with exactly `media_type`, for odd
    /// and hostile cases (not a tar, truncated gzip, unknown media type...).
    ///
    /// `uncompressed` and `diff_id` come from decompressing `bytes` as the
    /// media type's suffix suggests, or from `bytes` themselves when that
    /// fails or there is no suffix; overwrite them if the test needs otherwise.
    pub fn raw(bytes: impl Into<Bytes>, media_type: impl Into<String>) -> Layer {
        let blob = Blob::new(bytes, media_type);
        let uncompressed = decompress_by_media_type(&blob.bytes, &blob.media_type)
            .unwrap_or_else(|| blob.bytes.to_vec());
        Layer {
            diff_id: sha256_digest(&uncompressed),
            uncompressed,
            blob,
            compression: None,
        }
    }
}

fn decompress_by_media_type(data: &[u8], media_type: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    if media_type.ends_with("gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .ok()?;
        Some(out)
    } else if media_type.ends_with("zstd") {
        zstd::decode_all(data).ok()
    } else {
        None
    }
}

#[derive(Clone, Debug)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(Vec<u8>),
    Hardlink(Vec<u8>),
    CharDevice { major: u32, minor: u32 },
    Fifo,
}

#[derive(Clone, Debug)]
struct Entry {
    path: Vec<u8>,
    kind: Kind,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
}

/// Builds a layer tar entry by entry, in the order given.
///
/// Ownership and mtime are sticky: `uid`/`gid`/`mtime` apply to the entries
/// added after them (defaults 0, 0, [`DEFAULT_MTIME`]). Paths are raw bytes
/// written as given, so `"../escape"` or `"/abs"` end up in the tar verbatim.
#[derive(Clone, Debug)]
pub struct LayerBuilder {
    entries: Vec<Entry>,
    uid: u64,
    gid: u64,
    mtime: u64,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        LayerBuilder::new()
    }
}

impl LayerBuilder {
    pub fn new() -> LayerBuilder {
        LayerBuilder {
            entries: Vec::new(),
            uid: 0,
            gid: 0,
            mtime: DEFAULT_MTIME,
        }
    }

    /// Owner uid of the entries added from now on.
    pub fn uid(mut self, uid: u64) -> Self {
        self.uid = uid;
        self
    }

    /// Owner gid of the entries added from now on.
    pub fn gid(mut self, gid: u64) -> Self {
        self.gid = gid;
        self
    }

    /// Modification time (seconds since the epoch) of the entries added from now on.
    pub fn mtime(mut self, mtime: u64) -> Self {
        self.mtime = mtime;
        self
    }

    fn push(mut self, path: &[u8], kind: Kind, mode: u32) -> Self {
        self.entries.push(Entry {
            path: path.to_vec(),
            kind,
            mode,
            uid: self.uid,
            gid: self.gid,
            mtime: self.mtime,
        });
        self
    }

    /// A regular file; `mode` is the permission bits, e.g. `0o644`, `0o4755`.
    pub fn file(self, path: impl AsRef<[u8]>, data: impl AsRef<[u8]>, mode: u32) -> Self {
        self.push(path.as_ref(), Kind::File(data.as_ref().to_vec()), mode)
    }

    /// A directory; a trailing `/` is added to the name as tar tools do.
    pub fn dir(self, path: impl AsRef<[u8]>, mode: u32) -> Self {
        let mut path = path.as_ref().to_vec();
        if path.last() != Some(&b'/') {
            path.push(b'/');
        }
        self.push(&path, Kind::Dir, mode)
    }

    pub fn symlink(self, path: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        self.push(
            path.as_ref(),
            Kind::Symlink(target.as_ref().to_vec()),
            0o777,
        )
    }

    /// A hard link; `target` is the path of an earlier entry (or not, for hostile tests).
    pub fn hardlink(self, path: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        self.push(
            path.as_ref(),
            Kind::Hardlink(target.as_ref().to_vec()),
            0o644,
        )
    }

    pub fn char_device(self, path: impl AsRef<[u8]>, major: u32, minor: u32) -> Self {
        self.push(path.as_ref(), Kind::CharDevice { major, minor }, 0o666)
    }

    pub fn fifo(self, path: impl AsRef<[u8]>) -> Self {
        self.push(path.as_ref(), Kind::Fifo, 0o644)
    }

    /// Deletes `path` from lower layers: an empty `dir/.wh.name` entry.
    pub fn whiteout(self, path: impl AsRef<[u8]>) -> Self {
        let path = path.as_ref();
        let path = path.strip_suffix(b"/").unwrap_or(path);
        let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(slash) => (&path[..=slash], &path[slash + 1..]),
            None => (&path[..0], path),
        };
        let whiteout = [dir, b".wh.", name].concat();
        self.push(&whiteout, Kind::File(Vec::new()), 0o644)
    }

    /// Hides everything lower layers put in `dir`: an empty `dir/.wh..wh..opq` entry.
    pub fn opaque(self, dir: impl AsRef<[u8]>) -> Self {
        let dir = dir.as_ref();
        let dir = dir.strip_suffix(b"/").unwrap_or(dir);
        let marker = if dir.is_empty() {
            b".wh..wh..opq".to_vec()
        } else {
            [dir, b"/.wh..wh..opq"].concat()
        };
        self.push(&marker, Kind::File(Vec::new()), 0o644)
    }

    /// The uncompressed tar.
    pub fn tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in &self.entries {
            append_entry(&mut builder, entry);
        }
        builder.into_inner().expect("tar into memory")
    }

    /// The layer, compressed as asked. Takes `&self` so one content can be
    /// built under several compressions (same diff_id, different blobs).
    pub fn build(&self, compression: Compression) -> Layer {
        Layer::from_tar(self.tar(), compression)
    }
}

fn append_entry(builder: &mut tar::Builder<Vec<u8>>, entry: &Entry) {
    let mut header = tar::Header::new_gnu();
    let (entry_type, data, link): (tar::EntryType, &[u8], Option<&[u8]>) = match &entry.kind {
        Kind::File(data) => (tar::EntryType::Regular, data, None),
        Kind::Dir => (tar::EntryType::Directory, &[], None),
        Kind::Symlink(target) => (tar::EntryType::Symlink, &[], Some(target)),
        Kind::Hardlink(target) => (tar::EntryType::Link, &[], Some(target)),
        Kind::CharDevice { major, minor } => {
            header
                .set_device_major(*major)
                .expect("gnu header has device fields");
            header
                .set_device_minor(*minor)
                .expect("gnu header has device fields");
            (tar::EntryType::Char, &[], None)
        }
        Kind::Fifo => (tar::EntryType::Fifo, &[], None),
    };
    header.set_entry_type(entry_type);
    header.set_size(data.len() as u64);
    header.set_mode(entry.mode);
    header.set_uid(entry.uid);
    header.set_gid(entry.gid);
    header.set_mtime(entry.mtime);

    if entry.path.len() > 100 {
        append_long_record(builder, tar::EntryType::GNULongName, &entry.path);
    }
    let gnu = header.as_gnu_mut().expect("gnu header");
    copy_truncated(&mut gnu.name, &entry.path);
    if let Some(link) = link {
        if link.len() > 100 {
            append_long_record(builder, tar::EntryType::GNULongLink, link);
        }
        let gnu = header.as_gnu_mut().expect("gnu header");
        copy_truncated(&mut gnu.linkname, link);
    }
    header.set_cksum();
    builder.append(&header, data).expect("tar into memory");
}

/// GNU's way to carry a name longer than the 100-byte header field: a
/// `././@LongLink` pseudo-entry whose data is the NUL-terminated name.
fn append_long_record(builder: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &[u8]) {
    let mut header = tar::Header::new_gnu();
    let gnu = header.as_gnu_mut().expect("gnu header");
    copy_truncated(&mut gnu.name, b"././@LongLink");
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_size(name.len() as u64 + 1);
    header.set_cksum();
    let data = [name, b"\0"].concat();
    builder.append(&header, &data[..]).expect("tar into memory");
}

fn copy_truncated(field: &mut [u8; 100], value: &[u8]) {
    let len = value.len().min(field.len());
    field.fill(0);
    field[..len].copy_from_slice(&value[..len]);
}

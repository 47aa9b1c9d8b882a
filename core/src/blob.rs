//! Fetching one blob into the store, verified while it streams.
//!
//! The network side (async) reads the response and hands chunks over a small bounded channel
//! to a blocking worker that hashes, writes and, when the uncompressed layer is wanted too,
//! inflates and hashes that in the same pass. Memory is bounded by the channel, whatever the
//! blob's size. A dropped or stalled connection (silent, or under the minimum speed of
//! [`crate::patience`]) resumes with a Range request and the same hash; a server that ignores
//! the range makes the worker start over. Only verified files are committed to the store.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::PathBuf;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};
use crate::http::retry::Backoff;
use crate::http::RedactedUrl;
use crate::manifest::{Compression, Descriptor};
use crate::patience::BodyWatch;
use crate::progress::{Event, Progress};
use crate::registry::{BlobResponse, Session};
use crate::store::{BlobStore, Kind};

/// One blob to fetch, and what to check about it.
#[derive(Clone, Debug)]
pub struct BlobJob {
    pub desc: Descriptor,
    /// Names the blob in messages (`layer 2/4`).
    pub what: String,
    /// The compression its media type declares (layers only); checked against magic bytes.
    pub compression: Option<Compression>,
    /// Also store the uncompressed layer, verified against this diff ID.
    pub diff_id: Option<Digest>,
    /// Try the descriptor's `urls` when the registry does not have it.
    pub foreign: bool,
}

/// Where a fetched blob is.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub path: PathBuf,
    pub diff_path: Option<PathBuf>,
    pub cached: bool,
}

/// Where fetched content goes: blobs into the persistent cache, uncompressed layers into a
/// scratch store. Uncompressed layers are derived data, cheap to make again, and
/// writing them out for good would double the disk traffic of a pull.
#[derive(Clone, Copy)]
pub struct Stores<'a> {
    pub blobs: &'a BlobStore,
    pub diffs: &'a BlobStore,
}

/// Brings a blob into the store (or finds it there) and returns its paths.
pub async fn fetch(
    session: &Session,
    stores: Stores<'_>,
    job: &BlobJob,
    progress: &dyn Progress,
) -> Result<Fetched> {
    let digest = &job.desc.digest;
    progress.event(Event::BlobStarted {
        digest: digest.clone(),
        size: job.desc.size,
        what: job.what.clone(),
    });
    let cached_blob = stores.blobs.lookup(Kind::Blob, digest, Some(job.desc.size));
    let cached_diff = job
        .diff_id
        .as_ref()
        .map(|id| stores.diffs.lookup(Kind::Diff, id, None));
    let fetched = match (cached_blob, cached_diff) {
        (Some(path), None) => Fetched {
            path,
            diff_path: None,
            cached: true,
        },
        // Where the lookup found it: the durable name, or this boot's unsynced one.
        (Some(path), Some(Some(diff_path))) => Fetched {
            path,
            diff_path: Some(diff_path),
            cached: true,
        },
        (Some(path), Some(None)) => {
            let diff_path = decompress_stored(stores, job, path.clone()).await?;
            Fetched {
                path,
                diff_path: Some(diff_path),
                cached: true,
            }
        }
        (None, _) => download(session, stores, job, progress).await?,
    };
    progress.event(Event::BlobDone {
        digest: digest.clone(),
        cached: fetched.cached,
    });
    Ok(fetched)
}

/// Downloads, retrying once from the source when the bytes do not verify.
async fn download(
    session: &Session,
    stores: Stores<'_>,
    job: &BlobJob,
    progress: &dyn Progress,
) -> Result<Fetched> {
    match download_once(session, stores, job, progress).await {
        Err(e @ (Error::DigestMismatch { .. } | Error::SizeMismatch { .. })) => {
            progress.event(Event::BlobRetry {
                digest: job.desc.digest.clone(),
                reason: e.to_string(),
            });
            download_once(session, stores, job, progress).await
        }
        other => other,
    }
}

enum Msg {
    Data(Bytes),
    /// The source starts over from byte 0 (a 200 answer to a Range request, another URL).
    Restart,
}

async fn download_once(
    session: &Session,
    stores: Stores<'_>,
    job: &BlobJob,
    progress: &dyn Progress,
) -> Result<Fetched> {
    // Resume what an earlier, interrupted run left, unless another process is on it.
    let store = stores.blobs;
    let (blob_file, resume_from) = match store.open_partial(&job.desc.digest)? {
        Some((f, len)) if len <= job.desc.size => (f, len),
        Some((f, _)) => {
            f.as_file()
                .set_len(0)
                .map_err(|e| Error::io_path("truncating", f.path(), e))?;
            (f, 0)
        }
        None => (store.temp_file()?, 0),
    };
    let durable = store.syncs_on_commit();
    let mut sink = Sink::new(job, Some((blob_file, durable)), stores.diffs)?;
    let (tx, rx) = mpsc::channel::<Msg>(2);
    let worker = tokio::task::spawn_blocking(move || {
        sink.replay(resume_from)?;
        sink.consume(rx)
    });
    if resume_from > 0 {
        progress.event(Event::BlobRetry {
            digest: job.desc.digest.clone(),
            reason: format!("resuming at byte {resume_from} from an earlier run"),
        });
    }
    // A partial file that is already whole (the last run stopped just before storing it)
    // needs no request at all.
    let fed = if resume_from == job.desc.size {
        Ok(())
    } else {
        feed(session, job, &tx, resume_from, progress).await
    };
    drop(tx);
    let out = worker
        .await
        .map_err(|e| Error::io("blob worker", io::Error::other(e.to_string())))?;
    // A worker error explains a closed channel; a network error explains a short blob.
    let out = match (fed, out) {
        (Err(e), _) => return Err(e),
        (Ok(()), out) => out?,
    };
    let path = store.commit(
        Kind::Blob,
        &job.desc.digest,
        out.blob.expect("download has a blob"),
    )?;
    let diff_path = commit_diff(stores.diffs, job, &path, out.diff)?;
    Ok(Fetched {
        path,
        diff_path,
        cached: false,
    })
}

/// Stores the uncompressed form: the inflated file, or the blob itself when it was never
/// compressed.
fn commit_diff(
    store: &BlobStore,
    job: &BlobJob,
    blob_path: &std::path::Path,
    inflated: Option<tempfile::NamedTempFile>,
) -> Result<Option<PathBuf>> {
    let Some(diff_id) = &job.diff_id else {
        return Ok(None);
    };
    match inflated {
        Some(tmp) => store.commit(Kind::Diff, diff_id, tmp).map(Some),
        None => {
            if diff_id != &job.desc.digest {
                return Err(Error::DigestMismatch {
                    what: format!("{} (uncompressed layer vs its diff ID)", job.what),
                    expected: diff_id.clone(),
                    actual: job.desc.digest.clone(),
                });
            }
            store.link(blob_path, Kind::Diff, diff_id).map(Some)
        }
    }
}

/// Inflates a blob already in the store to get its uncompressed form.
async fn decompress_stored(stores: Stores<'_>, job: &BlobJob, path: PathBuf) -> Result<PathBuf> {
    if !matches!(job.compression, Some(Compression::Gzip | Compression::Zstd)) {
        return commit_diff(stores.diffs, job, &path, None).map(|p| p.expect("diff id is set"));
    }
    let sink = Sink::new(job, None, stores.diffs)?;
    let blob_path = path.clone();
    let out = tokio::task::spawn_blocking(move || -> Result<SinkOutput> {
        let mut sink = sink;
        let mut f = File::open(&path).map_err(|e| Error::io_path("reading", &path, e))?;
        // Several layers inflate at once: small pieces keep their buffers' sum small.
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| Error::io_path("reading", &path, e))?;
            if n == 0 {
                break;
            }
            sink.write(&buf[..n])?;
        }
        sink.finish()
    })
    .await
    .map_err(|e| Error::io("blob worker", io::Error::other(e.to_string())))??;
    Ok(commit_diff(stores.diffs, job, &blob_path, out.diff)?.expect("diff id is set"))
}

/// How many of a foreign layer's `urls` are tried (in order) after the registry.
const MAX_FOREIGN_URLS: usize = 4;

/// The network side: registry first, then (for foreign layers) each URL in order.
async fn feed(
    session: &Session,
    job: &BlobJob,
    tx: &mpsc::Sender<Msg>,
    resume_from: u64,
    progress: &dyn Progress,
) -> Result<()> {
    let mut sources = vec![None];
    if job.foreign {
        // A manifest may list any number of URLs, and each may cost a connect timeout and
        // retries: a few mirrors are all a real layer has.
        sources.extend(job.desc.urls.iter().take(MAX_FOREIGN_URLS).map(Some));
    }
    let mut failures = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        if i > 0 && tx.send(Msg::Restart).await.is_err() {
            return Ok(());
        }
        let start = if i == 0 { resume_from } else { 0 };
        match feed_from(session, job, *source, start, tx, progress).await {
            Ok(()) => return Ok(()),
            Err(e) if sources.len() > 1 => {
                let from = match source {
                    None => "registry".to_string(),
                    Some(u) => url::Url::parse(u).map_or_else(
                        |_| crate::terminal_text::shown(u),
                        |u| RedactedUrl::new(&u).to_string(),
                    ),
                };
                failures.push(format!("{from}: {e}"));
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::ForeignLayer {
        what: job.what.clone(),
        failures,
    })
}

/// Streams one source into the worker, resuming with Range after drops and stalls.
async fn feed_from(
    session: &Session,
    job: &BlobJob,
    url: Option<&String>,
    start: u64,
    tx: &mpsc::Sender<Msg>,
    progress: &dyn Progress,
) -> Result<()> {
    let digest = &job.desc.digest;
    let mut resumes = Backoff::new(session.retry_policy());
    let mut offset = start;
    loop {
        let opened: Result<BlobResponse> = match url {
            None => session.open_blob(digest, offset).await,
            Some(u) => session.open_external(u, offset, &job.what).await,
        };
        let BlobResponse { response, partial } = match opened {
            // The range is not what the server has (a stale partial file): start over.
            Err(Error::Registry(e)) if e.status == 416 && offset > 0 => {
                offset = 0;
                if tx.send(Msg::Restart).await.is_err() {
                    return Ok(());
                }
                continue;
            }
            other => other?,
        };
        if offset > 0 && !partial {
            offset = 0;
            if tx.send(Msg::Restart).await.is_err() {
                return Ok(());
            }
        }
        let mut stream = response.bytes_stream();
        let mut watch = BodyWatch::new(session.patience());
        let interrupted = loop {
            match watch.next(&mut stream).await {
                Err(stall) => break stall.to_string(),
                Ok(None) => return Ok(()),
                Ok(Some(Err(e))) => break Error::http("", e).to_string(),
                Ok(Some(Ok(chunk))) => {
                    offset += chunk.len() as u64;
                    if tx.send(Msg::Data(chunk)).await.is_err() {
                        return Ok(());
                    }
                    progress.event(Event::BlobProgress {
                        digest: digest.clone(),
                        done: offset,
                    });
                }
            }
        };
        let Some(wait) = resumes.next_delay(None) else {
            let spent = resumes.attempts();
            return Err(Error::io(
                format!(
                    "{}: transfer interrupted after {} resumes in {:.1} s",
                    job.what,
                    spent.count - 1,
                    spent.elapsed.as_secs_f64()
                ),
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    interrupted.trim_start_matches(": "),
                ),
            ));
        };
        progress.event(Event::BlobRetry {
            digest: digest.clone(),
            reason: format!(
                "{} at byte {offset}; resuming",
                interrupted.trim_start_matches(": ")
            ),
        });
        tokio::time::sleep(wait).await;
    }
}

/// The blocking side: hash and write the blob, and optionally its inflated form.
struct Sink {
    what: String,
    expected: Digest,
    size: u64,
    compression: Option<Compression>,
    head: Vec<u8>,
    blob: Option<HashFile>,
    inflater: Option<Inflater>,
    /// Where the inflated file is created (again, on restart).
    tmp_dir: PathBuf,
    /// Whether the inflated file is synced before it is stored (see
    /// [`BlobStore::syncs_on_commit`]).
    diff_durable: bool,
}

struct SinkOutput {
    blob: Option<tempfile::NamedTempFile>,
    diff: Option<tempfile::NamedTempFile>,
}

impl Sink {
    /// A sink for `job`, writing the blob to `blob` when given (synced before it is stored
    /// when `durable`), and its inflated form for `diffs` when the job wants it.
    fn new(
        job: &BlobJob,
        blob: Option<(tempfile::NamedTempFile, bool)>,
        diffs: &BlobStore,
    ) -> Result<Sink> {
        let tmp_dir = diffs.temp_dir();
        let diff_durable = diffs.syncs_on_commit();
        let inflater = match (job.compression, &job.diff_id) {
            (Some(c @ (Compression::Gzip | Compression::Zstd)), Some(id)) => Some(Inflater::new(
                c,
                HashFile::new(new_temp(&tmp_dir)?, id, diff_durable),
            )?),
            _ => None,
        };
        Ok(Sink {
            tmp_dir,
            diff_durable,
            what: job.what.clone(),
            expected: job.desc.digest.clone(),
            size: job.desc.size,
            compression: job.compression,
            head: Vec::with_capacity(4),
            blob: blob.map(|(t, durable)| HashFile::new(t, &job.desc.digest, durable)),
            inflater,
        })
    }

    /// Feeds the first `len` bytes already in the blob file (from an interrupted run) through
    /// the hashers and the inflater, without writing them again.
    fn replay(&mut self, len: u64) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let Some(blob) = &self.blob else {
            return Ok(());
        };
        let path = blob.out.get_ref().path().to_path_buf();
        let mut f = File::open(&path).map_err(|e| Error::io_path("reading", &path, e))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = f
                .read(&mut buf[..left.min(1 << 20) as usize])
                .map_err(|e| Error::io_path("reading", &path, e))?;
            if n == 0 {
                break;
            }
            if let Some(blob) = &mut self.blob {
                blob.account(&buf[..n]);
            }
            self.after_blob(&buf[..n])?;
            left -= n as u64;
        }
        Ok(())
    }

    fn consume(mut self, mut rx: mpsc::Receiver<Msg>) -> Result<SinkOutput> {
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                Msg::Data(b) => self.write(&b)?,
                Msg::Restart => self.restart()?,
            }
        }
        self.finish()
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        if let Some(blob) = &mut self.blob {
            if blob.written + data.len() as u64 > self.size {
                return Err(Error::SizeMismatch {
                    what: self.what.clone(),
                    expected: self.size,
                    actual: blob.written + data.len() as u64,
                });
            }
            blob.write_all(data).map_err(|e| Error::io(&self.what, e))?;
        }
        self.after_blob(data)
    }

    /// Magic check and inflation of bytes that are in the blob file.
    fn after_blob(&mut self, data: &[u8]) -> Result<()> {
        if self.head.len() < 4 {
            let take = (4 - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
            if self.head.len() == 4 {
                self.check_magic()?;
            }
        }
        if let Some(inf) = &mut self.inflater {
            inf.write_all(data).map_err(|e| Error::Decompress {
                what: self.what.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }

    fn check_magic(&self) -> Result<()> {
        let Some(declared) = self.compression else {
            return Ok(());
        };
        let found = Compression::sniff(&self.head);
        if found != declared {
            return Err(Error::manifest(
                &self.what,
                format!(
                    "media type says {} but the bytes are {}",
                    declared.name(),
                    found.name()
                ),
            ));
        }
        Ok(())
    }

    fn restart(&mut self) -> Result<()> {
        self.head.clear();
        if let Some(b) = &mut self.blob {
            b.reset().map_err(|e| Error::io(&self.what, e))?;
        }
        if let Some(inf) = self.inflater.take() {
            // A half-fed decoder cannot be rewound: start a new one on a new file.
            let fresh = HashFile::new(new_temp(&self.tmp_dir)?, inf.expected(), self.diff_durable);
            self.inflater = Some(Inflater::new(inf.compression(), fresh)?);
        }
        Ok(())
    }

    fn finish(self) -> Result<SinkOutput> {
        if self.head.len() < 4 && !self.head.is_empty() {
            self.check_magic()?;
        }
        let blob = match self.blob {
            Some(b) => {
                let (tmp, actual, written) = b.finish().map_err(|e| Error::io(&self.what, e))?;
                if written < self.size {
                    // Interrupted, not wrong: a resumable partial file stays for the next run
                    // (a private temporary file, used when another process holds the partial
                    // one, goes).
                    if tmp.path().extension().is_some_and(|e| e == "partial") {
                        let _ = tmp.into_temp_path().keep();
                    }
                    return Err(Error::io(
                        &self.what,
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("transfer ended at byte {written} of {}", self.size),
                        ),
                    ));
                }
                if written != self.size {
                    return Err(Error::SizeMismatch {
                        what: self.what,
                        expected: self.size,
                        actual: written,
                    });
                }
                if actual != self.expected {
                    return Err(Error::DigestMismatch {
                        what: self.what,
                        expected: self.expected,
                        actual,
                    });
                }
                Some(tmp)
            }
            None => None,
        };
        let diff = match self.inflater {
            Some(inf) => {
                let expected = inf.expected().clone();
                let file = inf.into_file().map_err(|e| Error::Decompress {
                    what: self.what.clone(),
                    reason: e.to_string(),
                })?;
                let (tmp, actual, _) = file.finish().map_err(|e| Error::io(&self.what, e))?;
                if actual != expected {
                    return Err(Error::DigestMismatch {
                        what: format!("{} (uncompressed, against the config's diff ID)", self.what),
                        expected,
                        actual,
                    });
                }
                Some(tmp)
            }
            None => None,
        };
        Ok(SinkOutput { blob, diff })
    }
}

fn new_temp(dir: &std::path::Path) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix("dl-")
        .tempfile_in(dir)
        .map_err(|e| Error::io_path("creating a temporary file in", dir, e))
}

/// How much is written before its writeback is started.
const WRITEBACK_CHUNK: u64 = 8 << 20;

/// A temporary file that hashes what is written to it.
struct HashFile {
    out: BufWriter<tempfile::NamedTempFile>,
    hasher: Hasher,
    expected: Digest,
    written: u64,
    /// Bytes whose writeback has been started.
    flushed: u64,
    /// Synced before it is stored (blobs), or left to the page cache (scratch files).
    durable: bool,
}

impl HashFile {
    fn new(tmp: tempfile::NamedTempFile, expected: &Digest, durable: bool) -> HashFile {
        HashFile {
            out: BufWriter::with_capacity(256 << 10, tmp),
            hasher: expected.algorithm().hasher(),
            expected: expected.clone(),
            written: 0,
            flushed: 0,
            durable,
        }
    }

    /// Counts bytes already in the file.
    fn account(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.written += data.len() as u64;
        self.flushed = self.written;
    }

    fn reset(&mut self) -> io::Result<()> {
        self.out.flush()?;
        let f = self.out.get_mut();
        f.as_file().set_len(0)?;
        f.rewind()?;
        self.hasher = self.expected.algorithm().hasher();
        self.written = 0;
        self.flushed = 0;
        Ok(())
    }

    /// Flushes and syncs the file (durable before it becomes visible in the store).
    fn finish(self) -> io::Result<(tempfile::NamedTempFile, Digest, u64)> {
        let tmp = self.out.into_inner().map_err(|e| e.into_error())?;
        if self.durable {
            tmp.as_file().sync_data()?;
        }
        Ok((tmp, self.hasher.finish(), self.written))
    }
}

impl Write for HashFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        if self.durable && self.written - self.flushed >= WRITEBACK_CHUNK {
            self.out.flush()?;
            crate::writeback::start(
                self.out.get_ref().as_file(),
                self.flushed,
                self.written - self.flushed,
            );
            self.flushed = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A streaming decompressor writing into a [`HashFile`].
// One per blob being inflated: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Inflater {
    Gzip(flate2::write::MultiGzDecoder<HashFile>),
    Zstd(zstd::stream::write::Decoder<'static, HashFile>),
}

impl Inflater {
    fn new(c: Compression, out: HashFile) -> Result<Inflater> {
        Ok(match c {
            Compression::Gzip => Inflater::Gzip(flate2::write::MultiGzDecoder::new(out)),
            Compression::Zstd => Inflater::Zstd(
                zstd::stream::write::Decoder::new(out).map_err(|e| Error::io("zstd decoder", e))?,
            ),
            Compression::None => unreachable!("uncompressed layers need no inflater"),
        })
    }

    fn compression(&self) -> Compression {
        match self {
            Inflater::Gzip(_) => Compression::Gzip,
            Inflater::Zstd(_) => Compression::Zstd,
        }
    }

    fn expected(&self) -> &Digest {
        match self {
            Inflater::Gzip(d) => &d.get_ref().expected,
            Inflater::Zstd(d) => &d.get_ref().expected,
        }
    }

    fn into_file(self) -> io::Result<HashFile> {
        match self {
            Inflater::Gzip(d) => d.finish(),
            Inflater::Zstd(mut d) => {
                d.flush()?;
                Ok(d.into_inner())
            }
        }
    }
}

impl Write for Inflater {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Inflater::Gzip(d) => d.write(buf),
            Inflater::Zstd(d) => d.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Inflater::Gzip(d) => d.flush(),
            Inflater::Zstd(d) => d.flush(),
        }
    }
}

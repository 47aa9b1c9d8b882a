//! Where the bytes of a blob being uploaded come from, reopenable at any offset, so a chunk
//! can be sent again and an upload resumed where the registry says it stands without ever
//! holding the blob in memory.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};

use crate::digest::Digest;
use crate::error::Result;
use crate::image_source::{ImageSource, PushBlob};
use crate::registry::Session;

/// A blob's bytes from some offset on.
pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Something a blob can be read from, from any offset.
#[async_trait]
pub(crate) trait BlobSource: Send + Sync {
    /// The bytes from `offset` to the end.
    async fn open(&self, offset: u64) -> Result<ByteStream>;

    /// Why the blob cannot be sent at all, known before any upload starts (a delta bundle
    /// leaves it out): the registry must have it already.
    fn unavailable(&self) -> Option<crate::error::Error> {
        None
    }

    /// Repositories of the destination registry that may hold the blob, to mount it from
    /// when it is [`unavailable`](BlobSource::unavailable).
    fn mount_candidates(&self) -> &[String] {
        &[]
    }
}

/// A blob a delta bundle leaves out: it can only be found present at the destination.
pub(crate) struct LeftOutBlob {
    pub what: String,
    pub digest: Digest,
    pub bundle: PathBuf,
    /// Where the delta's bases went at the destination (their repositories).
    pub bases: Vec<String>,
}

#[async_trait]
impl BlobSource for LeftOutBlob {
    async fn open(&self, _offset: u64) -> Result<ByteStream> {
        Err(self.error())
    }

    fn unavailable(&self) -> Option<crate::error::Error> {
        Some(self.error())
    }

    fn mount_candidates(&self) -> &[String] {
        &self.bases
    }
}

impl LeftOutBlob {
    fn error(&self) -> crate::error::Error {
        crate::error::Error::Upload {
            what: self.what.clone(),
            reason: format!(
                "the registry does not have {}, and {} leaves it out (a delta bundle): push its base first",
                self.digest,
                self.bundle.display()
            ),
        }
    }
}

/// A blob served by a registry (the source of a copy).
pub(crate) struct RegistryBlob<'a> {
    pub session: &'a Session,
    pub digest: Digest,
}

#[async_trait]
impl BlobSource for RegistryBlob<'_> {
    async fn open(&self, offset: u64) -> Result<ByteStream> {
        let answer = self.session.open_blob(&self.digest, offset).await?;
        let stream = answer.response.bytes_stream().map_err(io::Error::other);
        // A server that ignores the Range sends the whole blob: skip what was asked past.
        let skip = if answer.partial { 0 } else { offset };
        Ok(Box::pin(skipping(stream, skip)))
    }
}

/// A foreign layer, for `--include-foreign`: from the registry when it holds it (as pulls
/// try first), else from the URLs its descriptor lists, never with the registry's
/// credentials.
pub(crate) struct ForeignBlob<'a> {
    pub registry: RegistryBlob<'a>,
    pub urls: Vec<String>,
    pub what: String,
}

#[async_trait]
impl BlobSource for ForeignBlob<'_> {
    async fn open(&self, offset: u64) -> Result<ByteStream> {
        let mut failures = Vec::new();
        match self.registry.open(offset).await {
            Ok(stream) => return Ok(stream),
            Err(e) => failures.push(format!("the registry: {e}")),
        }
        for url in &self.urls {
            match self
                .registry
                .session
                .open_external(url, offset, &self.what)
                .await
            {
                Ok(answer) => {
                    let stream = answer.response.bytes_stream().map_err(io::Error::other);
                    let skip = if answer.partial { 0 } else { offset };
                    return Ok(Box::pin(skipping(stream, skip)));
                }
                Err(e) => failures.push(format!("{}: {e}", crate::terminal_text::shown(url))),
            }
        }
        Err(crate::error::Error::ForeignLayer {
            what: self.what.clone(),
            failures,
        })
    }
}

/// A blob of a push form read from its archive or layout (or the scratch file it was
/// compressed to), verified against its digest as it is read. Reading is blocking file I/O,
/// so it runs on a blocking thread and hands chunks over a small channel.
pub(crate) struct LocalBlob {
    pub source: Arc<ImageSource>,
    pub blob: PushBlob,
}

#[async_trait]
impl BlobSource for LocalBlob {
    async fn open(&self, offset: u64) -> Result<ByteStream> {
        let source = self.source.clone();
        let blob = self.blob.clone();
        let reader = tokio::task::spawn_blocking(move || source.open_push_blob(&blob))
            .await
            .map_err(|e| crate::error::Error::io("reading a blob", io::Error::other(e)))??;
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
        tokio::task::spawn_blocking(move || {
            let mut reader = reader;
            // The whole blob is read even from an offset: its digest is checked at the end.
            let mut skip = offset;
            loop {
                let mut buf = vec![0u8; 256 << 10];
                match io::Read::read(&mut reader, &mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        let mut chunk = Bytes::from(buf);
                        if skip > 0 {
                            let drop = skip.min(n as u64) as usize;
                            skip -= drop as u64;
                            chunk = chunk.split_off(drop);
                            if chunk.is_empty() {
                                continue;
                            }
                        }
                        if tx.blocking_send(Ok(chunk)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        Ok(Box::pin(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
        )))
    }
}

/// A blob in a file (an archive's, a layout's, the cache's).
#[allow(dead_code)] // kept for commands that read plain files.
pub(crate) struct FileBlob {
    pub path: PathBuf,
}

#[async_trait]
impl BlobSource for FileBlob {
    async fn open(&self, offset: u64) -> Result<ByteStream> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let mut file = tokio::fs::File::open(&self.path)
            .await
            .map_err(|e| crate::error::Error::io_path("opening", &self.path, e))?;
        file.seek(io::SeekFrom::Start(offset))
            .await
            .map_err(|e| crate::error::Error::io_path("seeking in", &self.path, e))?;
        let stream = futures_util::stream::try_unfold(file, |mut file| async move {
            let mut buf = vec![0u8; 256 << 10];
            let n = file.read(&mut buf).await?;
            buf.truncate(n);
            Ok::<_, io::Error>((n > 0).then(|| (Bytes::from(buf), file)))
        });
        Ok(Box::pin(stream))
    }
}

/// `stream` without its first `skip` bytes.
fn skipping(
    stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
    skip: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let mut left = skip;
    stream.filter_map(move |item| {
        let out = match item {
            Ok(mut b) if left > 0 => {
                let drop = left.min(b.len() as u64) as usize;
                left -= drop as u64;
                let rest = b.split_off(drop);
                (!rest.is_empty()).then_some(Ok(rest))
            }
            other => Some(other),
        };
        std::future::ready(out)
    })
}

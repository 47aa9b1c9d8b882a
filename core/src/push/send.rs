//! The order every upload command sends an image in, shared by `drag copy` and `drag push`:
//! the blobs, `jobs` at a time, then the manifests each after those it names, the one under
//! the tag last. Commands differ only in where a blob's bytes come from.

use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::error::Result;
use crate::manifest::{Descriptor, RawManifest};
use crate::progress::{Event, Progress};
use crate::push::blob::{self, BlobUpload, Outcome};
use crate::push::source::BlobSource;
use crate::push::UploadLimits;
use crate::registry::Session;

/// One blob to send: its descriptor, how messages name it, where its bytes come from.
pub(crate) struct BlobJob<'a> {
    pub desc: Descriptor,
    pub what: String,
    pub source: Box<dyn BlobSource + 'a>,
}

/// What sending the blobs did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sent {
    pub uploaded: usize,
    pub present: usize,
    pub mounted: usize,
    pub bytes_uploaded: u64,
}

/// Sends `jobs` to `dest`, `parallel` at a time; the first failure stops the rest.
pub(crate) async fn blobs(
    dest: &Session,
    jobs: &[BlobJob<'_>],
    parallel: usize,
    mount_from: Option<&str>,
    limits: UploadLimits,
    progress: &dyn Progress,
) -> Result<Sent> {
    progress.event(Event::Fetching {
        blobs: jobs.len(),
        bytes: jobs.iter().map(|j| j.desc.size).sum(),
    });
    let outcomes: Vec<(Outcome, u64)> = stream::iter(jobs.iter())
        .map(|j| async move {
            let job = BlobUpload {
                dest,
                desc: &j.desc,
                source: &*j.source,
                mount_from,
                limits,
                what: j.what.clone(),
            };
            blob::upload(&job, progress).await.map(|o| (o, j.desc.size))
        })
        .buffer_unordered(parallel.max(1))
        .try_collect()
        .await?;
    let mut sent = Sent::default();
    for (o, size) in outcomes {
        match o {
            Outcome::Uploaded => {
                sent.uploaded += 1;
                sent.bytes_uploaded += size;
            }
            Outcome::Present => sent.present += 1,
            Outcome::Mounted => sent.mounted += 1,
        }
    }
    Ok(sent)
}

/// Puts `children` by digest, in order (each after those it names), then `top` under
/// `reference` (a tag or its digest).
pub(crate) async fn manifests(
    dest: &Session,
    children: &[RawManifest],
    top: &RawManifest,
    reference: &str,
) -> Result<()> {
    for m in children {
        crate::push::manifest::put(dest, &m.digest.to_string(), m).await?;
    }
    crate::push::manifest::put(dest, reference, top).await
}

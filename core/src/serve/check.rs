//! Each blob is checked against its digest once, before it is first sent: read whole from its
//! source and hashed. Requests that come while the check runs wait for it, so a layer sixteen
//! clients ask for at once is hashed once, not sixteen times, and later requests stream it
//! without hashing (the files must not change while they are served). A blob that fails its
//! check is never sent: every request for it gets an error, and the failure is logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::catalogue::Catalogue;
use super::log::ServeLog;
use crate::digest::Digest;

/// A blob's check: run once, by the first request; later ones read its outcome.
type Verdict = Arc<OnceCell<Result<(), String>>>;

/// What is known of each blob asked for so far.
#[derive(Default)]
pub(crate) struct BlobChecks {
    verdicts: Mutex<HashMap<Digest, Verdict>>,
}

impl BlobChecks {
    /// Whether `digest` (a blob of `catalogue`) matches its digest in its source, checking it
    /// the first time and logging a failure then. A digest no source holds passes: the answer
    /// then says so.
    pub(crate) async fn check(
        &self,
        catalogue: Arc<impl AsRef<Catalogue> + Send + Sync + 'static>,
        digest: &Digest,
        log: &Arc<dyn ServeLog>,
    ) -> Result<(), String> {
        let cell = self
            .verdicts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(digest.clone())
            .or_default()
            .clone();
        let digest = digest.clone();
        let log = log.clone();
        cell.get_or_init(|| async move {
            let verdict = tokio::task::spawn_blocking(move || {
                read_whole(catalogue.as_ref().as_ref(), &digest)
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            if let Err(why) = &verdict {
                log.line(&format!("error: {why}; this blob is not served"));
            }
            verdict
        })
        .await
        .clone()
    }
}

/// Reads a blob whole through a verifying reader.
fn read_whole(cat: &Catalogue, digest: &Digest) -> Result<(), String> {
    let Some(place) = cat.blobs.get(digest) else {
        return Ok(());
    };
    let source = &cat.sources[place.source];
    let mut reader = source.open_blob(&place.desc).map_err(|e| e.to_string())?;
    // The reader's errors name the blob and its file.
    std::io::copy(&mut reader, &mut std::io::sink())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

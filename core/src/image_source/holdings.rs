//! What a source holds, asked without reading any blob: the questions delta bundles and a
//! union of sources (`drag serve OLD.tar delta.tar`) ask of each of their parts. A delta bundle
//! names in its `index.json` the blobs it leaves out (see
//! [`DELTA_LEFT_OUT_ANNOTATION`](crate::manifest::DELTA_LEFT_OUT_ANNOTATION)); it opens like any
//! source, and reading a blob it leaves out is an error saying so.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, DELTA_BASES_ANNOTATION, DELTA_LEFT_OUT_ANNOTATION};

use super::files::bad;
use super::{ImageSource, MAX_INDEX_FILE_BYTES};

/// The most digests a delta's annotation may name (one per blob; a tar index is bounded too).
const MAX_LEFT_OUT: usize = 1 << 20;

impl ImageSource {
    /// The size of the file holding the blob `digest`, read from the tar's index or the
    /// directory, not from the blob: None when the source does not hold it.
    pub fn blob_size(&self, digest: &Digest) -> Option<u64> {
        if !self.has_blob(digest) {
            return None;
        }
        self.files
            .open_file(&self.path, &self.blob_name(digest))
            .ok()
            .map(|(_, size)| size)
    }

    /// True when the source holds the blob `desc` names, at the size it names. The bytes are
    /// not hashed here (`drag bundle verify` does that).
    pub fn holds(&self, desc: &Descriptor) -> bool {
        self.blob_size(&desc.digest) == Some(desc.size)
    }

    /// A top-level annotation of `index.json`, if the source has one.
    fn index_annotation(&self, key: &str) -> Result<Option<String>> {
        if !self.files.exists("index.json") {
            return Ok(None);
        }
        let bytes = self
            .files
            .read_capped(&self.path, "index.json", MAX_INDEX_FILE_BYTES)?;
        let index: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| bad(&self.path, format!("index.json: {e}")))?;
        let Some(value) = index.get("annotations").and_then(|a| a.get(key)) else {
            return Ok(None);
        };
        let text = value
            .as_str()
            .ok_or_else(|| bad(&self.path, format!("index.json: {key} is not a string")))?;
        Ok(Some(text.to_string()))
    }

    /// The base images a delta bundle says hold what it leaves out (full references, as the
    /// bases name them); empty for any other source.
    pub fn delta_bases(&self) -> Result<Vec<String>> {
        Ok(self
            .index_annotation(DELTA_BASES_ANNOTATION)?
            .map(|t| {
                t.split(',')
                    .filter(|n| !n.is_empty())
                    .take(MAX_LEFT_OUT)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The blobs a delta bundle says it leaves out; empty for any other source.
    pub fn left_out(&self) -> Result<Vec<Digest>> {
        let Some(text) = self.index_annotation(DELTA_LEFT_OUT_ANNOTATION)? else {
            return Ok(Vec::new());
        };
        let digests: Vec<Digest> = text
            .split(',')
            .filter(|d| !d.is_empty())
            .take(MAX_LEFT_OUT + 1)
            .map(|d| {
                d.parse::<Digest>().map_err(|e| {
                    bad(
                        &self.path,
                        format!("index.json: {DELTA_LEFT_OUT_ANNOTATION}: {e}"),
                    )
                })
            })
            .collect::<Result<_>>()?;
        if digests.len() > MAX_LEFT_OUT {
            return Err(bad(
                &self.path,
                format!(
                    "index.json: {DELTA_LEFT_OUT_ANNOTATION} names more than {MAX_LEFT_OUT} blobs"
                ),
            ));
        }
        Ok(digests)
    }

    /// The error for reading a blob the source does not hold: a delta's says which bundle
    /// holds it.
    pub(crate) fn absent_blob(&self, digest: &Digest) -> Error {
        let delta = self.left_out().is_ok_and(|l| l.contains(digest));
        let reason = if delta {
            format!(
                "blob {digest} is left out of this delta bundle: read it with its base, which holds it"
            )
        } else {
            format!("blob {digest} is not in it")
        };
        bad(&self.path, reason)
    }
}

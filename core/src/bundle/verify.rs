//! `drag bundle verify`: every blob of every bundle hashed against its digest, every config
//! matched with its manifest's layers, and every blob a bundle lacks found in another bundle
//! of the set (a delta's bases). Problems are collected, not stopped at: the report lists them
//! all, one line each.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use super::walk::{self, image_name, NamedBlob};
use crate::config::{ImageConfig, MAX_CONFIG_BYTES};
use crate::image_source::ImageSource;
use crate::manifest::is_foreign_layer;

/// What verifying a set of bundles found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    /// One line per problem, naming the bundle and the blob or image.
    pub problems: Vec<String>,
    /// Blobs read and hashed.
    pub blobs_checked: usize,
    /// Their bytes.
    pub bytes_checked: u64,
}

/// Verifies every bundle in `paths`, `jobs` blobs at a time.
pub fn verify(paths: &[PathBuf], jobs: usize) -> VerifyReport {
    let mut report = VerifyReport::default();
    let mut sources = Vec::new();
    for path in paths {
        // Opening reads and verifies every manifest, and that an index's children are there.
        match ImageSource::open(path) {
            Ok(s) => sources.push(s),
            Err(e) => report.problems.push(format!("{}: {e}", path.display())),
        }
    }
    for (i, source) in sources.iter().enumerate() {
        let others: Vec<&ImageSource> = sources
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, s)| s)
            .collect();
        check_source(source, &others, jobs, &mut report);
    }
    report
}

fn check_source(
    source: &ImageSource,
    others: &[&ImageSource],
    jobs: usize,
    report: &mut VerifyReport,
) {
    let shown = source.path().display().to_string();
    let left_out = match source.left_out() {
        Ok(l) => l,
        Err(e) => {
            report.problems.push(format!("{e}"));
            Vec::new()
        }
    };
    let blobs = walk::blobs(source);
    let (stored, absent): (Vec<&NamedBlob>, Vec<&NamedBlob>) =
        blobs.iter().partition(|b| source.has_blob(&b.desc.digest));
    for b in absent {
        if others.iter().any(|o| o.holds(&b.desc)) {
            continue;
        }
        let foreign = is_foreign_layer(&b.desc) && !b.desc.urls.is_empty();
        if foreign {
            // Left out on purpose (`--skip-foreign`): its URLs say where it lives.
            continue;
        }
        let why = if left_out.contains(&b.desc.digest) {
            "is left out of this delta and no other bundle given holds it (give its base)"
        } else {
            "is missing and no other bundle given holds it"
        };
        report.problems.push(format!(
            "{shown}: {} {} ({} bytes) {why}",
            b.what, b.desc.digest, b.desc.size
        ));
    }
    let problems = Mutex::new(Vec::new());
    let checked = Mutex::new((0usize, 0u64));
    let _ = crate::output::run_parallel(&stored, jobs, |b| {
        match read_through(source, b) {
            Ok(()) => {
                let mut c = checked.lock().unwrap_or_else(|p| p.into_inner());
                c.0 += 1;
                c.1 += b.desc.size;
            }
            Err(e) => problems
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("{shown}: {}: {e}", b.what)),
        }
        Ok::<(), ()>(())
    });
    let mut problems = problems.into_inner().unwrap_or_else(|p| p.into_inner());
    problems.sort();
    report.problems.extend(problems);
    let (n, bytes) = checked.into_inner().unwrap_or_else(|p| p.into_inner());
    report.blobs_checked += n;
    report.bytes_checked += bytes;
    check_configs(source, report);
}

/// Reads a blob to its end through the verifying reader.
fn read_through(source: &ImageSource, b: &NamedBlob) -> crate::error::Result<()> {
    let mut reader = source.open_blob(&b.desc)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(crate::image_source::read_error(source.path(), e)),
        }
    }
}

/// Each image's config must name as many layers as its manifest.
fn check_configs(source: &ImageSource, report: &mut VerifyReport) {
    for image in walk::manifests(source) {
        let Some(config) = &image.config else {
            continue;
        };
        if !source.holds(config) {
            continue;
        }
        let Ok(bytes) = source.read_blob(config, MAX_CONFIG_BYTES) else {
            continue; // already reported by the digest check
        };
        let Ok(parsed) = ImageConfig::parse(&bytes) else {
            continue; // an artifact's config
        };
        if let Ok(diff_ids) = parsed.diff_ids() {
            if diff_ids.len() != image.layers.len() && !diff_ids.is_empty() {
                report.problems.push(format!(
                    "{}: {}: the config names {} layers but the manifest {}",
                    display(source.path()),
                    image_name(image),
                    diff_ids.len(),
                    image.layers.len()
                ));
            }
        }
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

//! `drag cache info|prune|clean`: the blob cache's size, and making room.

use drag_core::cache;
use drag_core::Error;

use crate::args::CacheCommand;
use crate::render::human_bytes;

pub fn run(cmd: CacheCommand) -> anyhow::Result<()> {
    let root = cache::default_dir()
        .ok_or_else(|| Error::Usage("no cache directory: set DRAG_CACHE_DIR or HOME".into()))?;
    match cmd {
        CacheCommand::Info => {
            let i = cache::info(&root)?;
            crate::stdout::write(|out| {
                writeln!(out, "cache: {}", root.display())?;
                writeln!(
                    out,
                    "blobs: {} ({})",
                    i.blobs.files,
                    human_bytes(i.blobs.bytes)
                )?;
                writeln!(
                    out,
                    "manifests: {} ({})",
                    i.manifests.files,
                    human_bytes(i.manifests.bytes)
                )?;
                writeln!(
                    out,
                    "uncompressed layers: {} ({})",
                    i.diffs.files,
                    human_bytes(i.diffs.bytes)
                )?;
                writeln!(
                    out,
                    "partial downloads: {} ({})",
                    i.partial.files,
                    human_bytes(i.partial.bytes)
                )?;
                writeln!(out, "total: {}", human_bytes(i.total_bytes()))
            })?;
        }
        CacheCommand::Prune { keep, older_than } => {
            if keep.is_none() && older_than.is_none() {
                return Err(Error::Usage(
                    "cache prune needs --keep SIZE and/or --older-than DURATION".into(),
                )
                .into());
            }
            let keep = keep.as_deref().map(cache::parse_size).transpose()?;
            let age = older_than
                .as_deref()
                .map(cache::parse_duration)
                .transpose()?;
            let removed = cache::prune(&root, keep, age)?;
            eprintln!(
                "removed {} files ({})",
                removed.files,
                human_bytes(removed.bytes)
            );
        }
        CacheCommand::Clean => {
            let removed = cache::clean(&root)?;
            eprintln!(
                "removed {} files ({})",
                removed.files,
                human_bytes(removed.bytes)
            );
        }
    }
    Ok(())
}

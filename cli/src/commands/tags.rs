//! `drag tags`: a repository's tags on stdout, one per line.

use std::io::Write;

use crate::args::TagsArgs;

pub async fn run(args: TagsArgs) -> anyhow::Result<()> {
    let registry = super::registry_options(&args.registry)?;
    let tags = drag_core::inspect::tags(&args.repository, &registry).await?;
    let mut out = std::io::stdout().lock();
    for t in tags {
        writeln!(out, "{t}")?;
    }
    out.flush()?;
    Ok(())
}

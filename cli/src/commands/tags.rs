//! `drag tags`: a repository's tags on stdout, one per line.
//!
//! stdout is data, so it gets only valid tags (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`), which
//! hold no character a terminal or a script could trip on; entries that are not tags are left
//! out and counted on stderr, the first one shown escaped. Digests spelled as tags
//! (`sha256__<hex>`, Artifactory) name no release, so they are hidden unless `--all`, and
//! counted on stderr.

use drag_core::registry::tag_list::TagList;
use drag_core::terminal_text;

use crate::args::TagsArgs;

pub async fn run(args: TagsArgs) -> anyhow::Result<()> {
    let registry = super::registry_options(&args.registry)?;
    let list = drag_core::inspect::tags(&args.repository, &registry).await?;
    crate::stdout::write(|out| {
        for t in list
            .tags
            .iter()
            .filter(|t| args.all || !TagList::is_digest_like(t))
        {
            writeln!(out, "{t}")?;
        }
        Ok(())
    })?;
    if list.invalid > 0 {
        eprintln!(
            "drag: warning: left out {} entries of the tag list that are not valid tags (the first: \"{}\")",
            list.invalid,
            terminal_text::escape(list.first_invalid.as_deref().unwrap_or_default())
        );
    }
    if list.digest_like > 0 && !args.all {
        eprintln!(
            "drag: hid {} digest-like entries of the tag list (sha256__<hex>); --all shows them",
            list.digest_like
        );
    }
    Ok(())
}

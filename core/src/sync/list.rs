//! The sync list: which images `drag sync` mirrors, read from YAML (`images: [...]`) or from
//! a plain list with one reference per line. Everything a list can get wrong (unknown keys,
//! a bad regex or semver range, a malformed reference) is refused here, naming the entry,
//! before any request is made.

use serde::Deserialize;

use super::filter::{TagFilter, TagFilterSpec};
use crate::error::{Error, Result};
use crate::platform::Platform;
use crate::reference::Reference;

/// The largest list file read, checked before reading it.
pub const MAX_LIST_BYTES: u64 = 4 << 20;
/// The most entries a list may hold.
pub const MAX_ENTRIES: usize = 10_000;

/// One image of the list, checked.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Where it comes from: a reference, or with `tags` a repository.
    pub source: String,
    /// Which tags of `source` to mirror.
    pub tags: Tags,
    /// The platforms to copy; empty means all (the index is copied whole).
    pub platforms: Vec<Platform>,
    /// An explicit destination path under the host (`tools/app`), replacing prefix and path.
    pub dest: Option<String>,
}

/// Which tags an entry names.
#[derive(Clone, Debug)]
pub enum Tags {
    /// The tag or digest in the source reference itself (or `latest`, as a pull reads it).
    Reference,
    /// These tags of the source repository.
    Listed(Vec<String>),
    /// The tags of the repository's listing that pass this filter.
    Filter(TagFilter),
}

// Entries are read one by one from YAML values (not as an untagged enum), so an error names
// the entry and says what is wrong with it rather than "did not match any variant".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListFile {
    images: Vec<serde_yaml_ng::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullEntry {
    source: String,
    #[serde(default)]
    tags: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    platforms: Vec<String>,
    #[serde(default)]
    dest: Option<String>,
}

/// Reads and checks the list file at `path`, refusing one over [`MAX_LIST_BYTES`] before
/// reading past that size.
pub fn read(path: &std::path::Path) -> Result<Vec<Entry>> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let mut bytes = Vec::new();
    file.take(MAX_LIST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if bytes.len() as u64 > MAX_LIST_BYTES {
        return Err(bad(&format!(
            "{} is larger than {MAX_LIST_BYTES} bytes",
            path.display()
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| bad(&format!("{} is not UTF-8 text", path.display())))?;
    parse(&text)
}

/// Reads a list: YAML when a line starts with `images:`, else one reference per line (`#`
/// starts a comment; blank lines are skipped).
pub fn parse(text: &str) -> Result<Vec<Entry>> {
    let yaml = text
        .lines()
        .any(|l| l.starts_with("images:") || l.starts_with("---"));
    let entries = if yaml {
        parse_yaml(text)?
    } else {
        parse_plain(text)?
    };
    if entries.is_empty() {
        return Err(bad("the list names no image"));
    }
    if entries.len() > MAX_ENTRIES {
        return Err(bad(&format!(
            "{} entries, more than the {MAX_ENTRIES} a list may hold",
            entries.len()
        )));
    }
    Ok(entries)
}

fn bad(why: &str) -> Error {
    Error::Usage(format!("sync list: {why}"))
}

fn bad_entry(n: usize, source: &str, why: impl std::fmt::Display) -> Error {
    bad(&format!("entry {n} ({source}): {why}"))
}

fn parse_plain(text: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        Reference::parse(line).map_err(|e| bad(&format!("line {}: {e}", i + 1)))?;
        out.push(Entry {
            source: line.to_string(),
            tags: Tags::Reference,
            platforms: Vec::new(),
            dest: None,
        });
    }
    Ok(out)
}

fn parse_yaml(text: &str) -> Result<Vec<Entry>> {
    let file: ListFile = serde_yaml_ng::from_str(text).map_err(|e| {
        bad(&format!(
            "{e} (an entry is a reference, or a map of source, tags, platforms, dest)"
        ))
    })?;
    file.images
        .into_iter()
        .enumerate()
        .map(|(i, raw)| checked(i + 1, raw))
        .collect()
}

fn checked(n: usize, raw: serde_yaml_ng::Value) -> Result<Entry> {
    use serde_yaml_ng::Value;
    let full = match raw {
        Value::String(source) => FullEntry {
            source,
            tags: None,
            platforms: Vec::new(),
            dest: None,
        },
        Value::Mapping(_) => {
            let named = raw
                .get("source")
                .and_then(Value::as_str)
                .unwrap_or("no source")
                .to_string();
            serde_yaml_ng::from_value(raw).map_err(|e| bad_entry(n, &named, e))?
        }
        _ => {
            return Err(bad(&format!(
                "entry {n}: an entry is a reference, or a map of source, tags, platforms, dest"
            )))
        }
    };
    let source = full.source.trim().to_string();
    let reference = Reference::parse(&source).map_err(|e| bad_entry(n, &source, e))?;
    let tags = match full.tags {
        None => Tags::Reference,
        Some(t) => {
            if reference.tag().is_some() || reference.digest().is_some() {
                return Err(bad_entry(
                    n,
                    &source,
                    "with `tags`, the source names a repository, without a tag or digest",
                ));
            }
            match t {
                serde_yaml_ng::Value::Sequence(_) => {
                    let list: Vec<String> = serde_yaml_ng::from_value(t)
                        .map_err(|e| bad_entry(n, &source, format!("tags: {e}")))?;
                    if list.is_empty() {
                        return Err(bad_entry(n, &source, "`tags` lists no tag"));
                    }
                    if let Some(t) = list.iter().find(|t| !crate::reference::is_valid_tag(t)) {
                        return Err(bad_entry(n, &source, format!("{t:?} is not a valid tag")));
                    }
                    Tags::Listed(list)
                }
                serde_yaml_ng::Value::Mapping(_) => {
                    let spec: TagFilterSpec = serde_yaml_ng::from_value(t)
                        .map_err(|e| bad_entry(n, &source, format!("tags: {e}")))?;
                    Tags::Filter(TagFilter::new(spec).map_err(|e| bad_entry(n, &source, e))?)
                }
                _ => {
                    return Err(bad_entry(
                        n,
                        &source,
                        "tags is a list of tags or a map of regex, exclude, semver, latest",
                    ))
                }
            }
        }
    };
    let platforms = full
        .platforms
        .iter()
        .map(|p| p.parse::<Platform>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad_entry(n, &source, e))?;
    if let Some(d) = &full.dest {
        let probe = format!("example.invalid/{d}");
        let r = Reference::parse(&probe).map_err(|e| bad_entry(n, &source, e))?;
        if d.is_empty() || r.tag().is_some() || r.digest().is_some() {
            return Err(bad_entry(
                n,
                &source,
                format!("dest {d:?} must be a repository path, without a tag or digest"),
            ));
        }
    }
    Ok(Entry {
        source,
        tags,
        platforms,
        dest: full.dest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn the_yaml_schema_is_read_with_every_kind_of_entry() {
        let list = parse(
            "images:\n  - docker.io/library/alpine:3.9  # one tag\n  - source: mcr.microsoft.com/windows/nanoserver\n    tags: {regex: '^ltsc20', exclude: ['-arm'], semver: '>=10.0', latest: 5}\n    platforms: [windows/amd64]\n  - source: ghcr.io/org/app\n    tags: [\"1.2\", \"1.3\"]\n    dest: tools/app\n",
        )
        .unwrap();
        assert_eq!(list.len(), 3);
        assert!(matches!(list[0].tags, Tags::Reference));
        assert_eq!(list[0].source, "docker.io/library/alpine:3.9");
        assert!(matches!(list[1].tags, Tags::Filter(_)));
        assert_eq!(list[1].platforms.len(), 1);
        assert!(matches!(&list[2].tags, Tags::Listed(t) if t == &["1.2", "1.3"]));
        assert_eq!(list[2].dest.as_deref(), Some("tools/app"));
    }

    #[test]
    fn a_plain_list_skips_comments_and_blank_lines() {
        let list = parse("# mirrors\n\nalpine:3.9\n  ghcr.io/o/app:1  # pinned\n").unwrap();
        let sources: Vec<_> = list.iter().map(|e| e.source.as_str()).collect();
        assert_eq!(sources, ["alpine:3.9", "ghcr.io/o/app:1"]);
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let e = err("images:\n  - alpine:3.9\n  - source: ghcr.io/o/app\n    tag: [\"1\"]\n");
        assert!(
            e.contains("entry 2 (ghcr.io/o/app)") && e.contains("tag"),
            "{e}"
        );
        let e = err("images:\n  - source: ghcr.io/o/app\n    tags: {regexp: 'x'}\n");
        assert!(
            e.contains("entry 1 (ghcr.io/o/app)") && e.contains("regexp"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_regex_is_refused_naming_the_entry() {
        let e =
            err("images:\n  - alpine:3.9\n  - source: ghcr.io/o/app\n    tags: {regex: '(['}\n");
        assert!(e.contains("entry 2 (ghcr.io/o/app)"), "{e}");
        assert!(e.contains("regex"), "{e}");
    }

    #[test]
    fn a_bad_semver_range_is_refused_naming_the_entry() {
        let e = err("images:\n  - source: ghcr.io/o/app\n    tags: {semver: '>>1'}\n");
        assert!(
            e.contains("entry 1 (ghcr.io/o/app)") && e.contains("semver"),
            "{e}"
        );
    }

    #[test]
    fn tags_with_a_tagged_source_are_refused() {
        let e = err("images:\n  - source: ghcr.io/o/app:1\n    tags: [\"2\"]\n");
        assert!(e.contains("entry 1"), "{e}");
    }

    #[test]
    fn a_dest_with_a_tag_is_refused() {
        let e =
            err("images:\n  - source: ghcr.io/o/app\n    tags: [\"2\"]\n    dest: tools/app:2\n");
        assert!(e.contains("dest"), "{e}");
    }

    #[test]
    fn malformed_yaml_is_refused_clearly() {
        let e = err("images:\n  - source: [unclosed\n");
        assert!(e.starts_with("sync list:"), "{e}");
    }

    #[test]
    fn a_malformed_plain_line_is_refused_with_its_line() {
        let e = err("alpine:3.9\nNOT A REFERENCE\n");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn an_empty_list_is_refused() {
        assert!(err("# nothing\n").contains("no image"));
    }
}

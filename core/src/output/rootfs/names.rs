//! Entry names: splitting them into components inside the root, and showing them in messages
//! without letting a hostile name flood or drive the terminal.

/// One path component. Tar names are bytes, not necessarily UTF-8.
pub(super) type Name = Box<[u8]>;

/// Linux refuses longer paths, so no runtime could create them either. The bound also keeps
/// the tree shallow enough to walk without deep recursion.
pub(super) const PATH_MAX: usize = 4096;

/// How much of a name a message shows.
const SHOWN_CHARS: usize = 200;

/// Splits a tar path into components relative to the root, without empty, `.` or `..` parts.
/// Leading `/` and `./` go; a `..` climbing above the root is refused.
pub(super) fn normalize(raw: &[u8]) -> Result<Vec<Name>, String> {
    if raw.len() >= PATH_MAX {
        return Err(format!("path of {} bytes is too long", raw.len()));
    }
    if raw.contains(&0) {
        return Err("NUL byte in path".into());
    }
    let mut out: Vec<Name> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("path escapes the image root".into());
                }
            }
            _ => out.push(c.into()),
        }
    }
    Ok(out)
}

/// A hard link's target: a path from the root, like the entry's own. An absolute target with
/// `..` in it is refused outright, even where the `..` would stay inside: a tool that wrote
/// one was confused about what the root is.
pub(super) fn normalize_link(raw: &[u8]) -> Result<Vec<Name>, String> {
    if raw.starts_with(b"/") && raw.split(|&b| b == b'/').any(|c| c == b"..") {
        return Err("absolute target with `..`".into());
    }
    let path = normalize(raw)?;
    if path.is_empty() {
        return Err("target is the root directory".into());
    }
    Ok(path)
}

pub(super) fn join(path: &[Name]) -> String {
    shown(&path.join(&b'/'))
}

/// A name for a message: quoted, control characters escaped, at most [`SHOWN_CHARS`]
/// characters with the full length said when cut.
pub(super) fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(SHOWN_CHARS).collect();
    let mut out = format!("{head:?}");
    if chars.next().is_some() {
        out.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_names_are_cut_and_escaped() {
        let long = vec![b'a'; 5000];
        let s = shown(&long);
        assert!(s.len() < 260, "{s}");
        assert!(s.ends_with("... (5000 bytes)"), "{s}");
        assert_eq!(shown(b"a\x1b[2Jb"), "\"a\\u{1b}[2Jb\"");
    }
}

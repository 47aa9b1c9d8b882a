//! PAX records: which ones a layer may use, and how drag reads and writes them.
//!
//! Allow-listed: `path`, `linkpath`, `size`, `uid`, `gid`, `uname`, `gname`, `mtime`,
//! `atime`, `ctime`, and extended attributes (`SCHILY.xattr.*`, `LIBARCHIVE.xattr.*`).
//! `GNU.sparse.*` marks a sparse entry, which drag refuses. Everything else (`comment`,
//! `hdrcharset`, `SCHILY.dev`, vendor records...) is dropped: nothing downstream needs it,
//! and a record drag does not understand is one it cannot vouch for.
//!
//! A key given twice with different values is refused: readers disagree on which one wins,
//! so the same layer would mean different files to different tools.

use super::reader::Parsed;

/// Allow-listed records of one entry, in the order the layer gave them.
#[derive(Debug, Default)]
pub(super) struct Records(Vec<(String, Vec<u8>)>);

/// What applying records found besides the entry's fields.
pub(super) struct Applied {
    pub sparse: bool,
}

const XATTR_PREFIXES: [&str; 2] = ["SCHILY.xattr.", "LIBARCHIVE.xattr."];
const TIMES: [&str; 3] = ["mtime", "atime", "ctime"];

impl Records {
    /// Adds the records of one PAX header (`LEN KEY=VALUE\n`...).
    pub fn add(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            // Some writers pad the data with NULs.
            if data.iter().all(|&b| b == 0) {
                break;
            }
            let space = data
                .iter()
                .take(20)
                .position(|&b| b == b' ')
                .ok_or("malformed record length")?;
            let len: usize = std::str::from_utf8(&data[..space])
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
                .ok_or("malformed record length")?;
            if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
                return Err("malformed record".into());
            }
            let record = &data[space + 1..len - 1];
            data = &data[len..];
            let eq = record
                .iter()
                .position(|&b| b == b'=')
                .ok_or("record without `=`")?;
            let Ok(key) = std::str::from_utf8(&record[..eq]) else {
                continue;
            };
            if !is_kept(key) && !is_sparse_key(key) {
                continue;
            }
            let value = &record[eq + 1..];
            match self.0.iter().find(|(k, _)| k == key) {
                Some((_, old)) if old == value => {}
                Some(_) => return Err(format!("two different {} records", shown_key(key))),
                None => self.0.push((key.to_owned(), value.to_vec())),
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// Overrides the header's fields with the records; keeps times and xattrs in `extra`.
    pub fn apply(self, entry: &mut Parsed, path: &mut Vec<u8>) -> Result<Applied, String> {
        let mut applied = Applied { sparse: false };
        for (key, value) in self.0 {
            match key.as_str() {
                // An empty value unsets a record, which for an entry's own header means the
                // header's field stands.
                _ if value.is_empty() => {}
                "path" => *path = value,
                "linkpath" => entry.link = value,
                "size" => entry.size = decimal(&key, &value)?,
                "uid" => entry.uid = decimal(&key, &value)?,
                "gid" => entry.gid = decimal(&key, &value)?,
                "uname" => entry.uname = value,
                "gname" => entry.gname = value,
                k if TIMES.contains(&k) => {
                    let seconds = time(&key, &value)?;
                    if k == "mtime" {
                        entry.mtime = seconds;
                    }
                    entry.extra.push((key, value));
                }
                k if is_sparse_key(k) => applied.sparse = true,
                _ => entry.extra.push((key, value)),
            }
        }
        Ok(applied)
    }
}

fn is_kept(key: &str) -> bool {
    matches!(
        key,
        "path" | "linkpath" | "size" | "uid" | "gid" | "uname" | "gname"
    ) || TIMES.contains(&key)
        || xattr_name(key).is_some()
}

pub(super) fn is_sparse_key(key: &str) -> bool {
    key.starts_with("GNU.sparse.")
}

/// The attribute name of an xattr record (`security.capability`), as written in the key.
pub(super) fn xattr_name(key: &str) -> Option<&str> {
    XATTR_PREFIXES
        .iter()
        .find_map(|p| key.strip_prefix(p))
        .filter(|name| !name.is_empty())
}

fn decimal(key: &str, value: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(value)
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("malformed `{key}` record"))
}

/// Seconds since the epoch, `-?DIGITS[.DIGITS]`; returns the whole seconds (rounded down).
fn time(key: &str, value: &[u8]) -> Result<i64, String> {
    let bad = || format!("malformed `{key}` record");
    let text = std::str::from_utf8(value).map_err(|_| bad())?;
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || text.len() > 40 {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let has_fraction = fraction.bytes().any(|b| b != b'0');
    Ok(match (negative, has_fraction) {
        (false, _) => whole,
        (true, false) => -whole,
        (true, true) => -whole - 1,
    })
}

fn shown_key(key: &str) -> String {
    super::names::shown(key.as_bytes())
}

/// Appends one record, `LEN KEY=VALUE\n`, where LEN counts the whole record including itself.
pub(super) fn push_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_length_counts_its_own_digits() {
        for value_len in [0, 1, 2, 5, 90, 94, 95, 96, 100, 995, 996, 10_000] {
            let mut out = Vec::new();
            push_record(&mut out, "path", &vec![b'a'; value_len]);
            let space = out.iter().position(|&b| b == b' ').unwrap();
            let len: usize = std::str::from_utf8(&out[..space]).unwrap().parse().unwrap();
            assert_eq!(len, out.len(), "value of {value_len} bytes");
        }
    }

    #[test]
    fn unknown_records_are_dropped_and_conflicting_ones_refused() {
        let mut data = Vec::new();
        push_record(&mut data, "comment", b"hi");
        push_record(&mut data, "SCHILY.xattr.user.a", b"1");
        push_record(&mut data, "path", b"a");
        push_record(&mut data, "path", b"a");
        let mut records = Records::default();
        records.add(&data).unwrap();
        assert_eq!(records.0.len(), 2, "{:?}", records.0);
        let mut twice = Vec::new();
        push_record(&mut twice, "path", b"b");
        let err = records.add(&twice).unwrap_err();
        assert!(err.contains("two different \"path\" records"), "{err}");
    }

    #[test]
    fn times_round_down_to_whole_seconds() {
        assert_eq!(time("mtime", b"12.5"), Ok(12));
        assert_eq!(time("mtime", b"-12.5"), Ok(-13));
        assert_eq!(time("mtime", b"-12"), Ok(-12));
        assert!(time("mtime", b"1e9").is_err());
        assert!(time("mtime", b"").is_err());
    }
}

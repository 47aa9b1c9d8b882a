//! PAX records: which ones a layer may use, and how drag reads and writes them.
//!
//! Allow-listed: `path`, `linkpath`, `size`, `uid`, `gid`, `uname`, `gname`, `mtime`,
//! `atime`, `ctime`, and extended attributes (`SCHILY.xattr.*`, `LIBARCHIVE.xattr.*`).
//! `GNU.sparse.*` marks a sparse entry, which drag refuses. Everything else (`comment`,
//! `hdrcharset`, `SCHILY.dev`, vendor records...) is dropped: nothing downstream needs it,
//! and a record drag does not understand is one it cannot vouch for.
//!
//! A key given twice with different values is refused: readers disagree on which one wins,
//! so the same layer would mean different files to different tools. The same goes for one
//! extended attribute given twice under different spellings: libarchive URL-decodes
//! `LIBARCHIVE.xattr.` names (`%73ecurity.capability` is `security.capability`) and
//! base64-decodes their values, so attributes are compared as libarchive would apply them,
//! decoded name against decoded name and value against value. libarchive itself writes each
//! attribute both ways, which agree once decoded.

use std::borrow::Cow;
use std::collections::HashMap;

use super::reader::Parsed;

/// Allow-listed records of one entry, in the order the layer gave them, with maps from key
/// and from attribute name so that checking each new record for a conflict takes constant
/// time: the records of one entry can number in the tens of thousands.
#[derive(Debug, Default)]
pub(super) struct Records {
    list: Vec<(String, Vec<u8>)>,
    by_key: HashMap<String, usize>,
    /// Decoded attribute name -> decoded value.
    xattrs: HashMap<Vec<u8>, Vec<u8>>,
}

/// What applying records found besides the entry's fields.
pub(super) struct Applied {
    pub sparse: bool,
}

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
            match self.by_key.get(key) {
                Some(&i) if self.list[i].1 == value => continue,
                Some(_) => return Err(format!("two different {} records", shown_key(key))),
                None => {}
            }
            if let Some(name) = xattr_attribute(key) {
                let decoded = xattr_value(key, value);
                match self.xattrs.get(name.as_ref()) {
                    Some(old) if *old == *decoded => {}
                    Some(_) => {
                        return Err(format!(
                            "two different values for extended attribute {}",
                            super::names::shown(&name)
                        ))
                    }
                    None => {
                        self.xattrs.insert(name.into_owned(), decoded.into_owned());
                    }
                }
            }
            self.by_key.insert(key.to_owned(), self.list.len());
            self.list.push((key.to_owned(), value.to_vec()));
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.by_key.get(key).map(|&i| self.list[i].1.as_slice())
    }

    /// Overrides the header's fields with the records; keeps times and xattrs in `extra`.
    pub fn apply(self, entry: &mut Parsed, path: &mut Vec<u8>) -> Result<Applied, String> {
        let mut applied = Applied { sparse: false };
        for (key, value) in self.list {
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
        || xattr_attribute(key).is_some()
}

pub(super) fn is_sparse_key(key: &str) -> bool {
    key.starts_with("GNU.sparse.")
}

/// The attribute an xattr record sets (`security.capability`), as a reader applies it:
/// `LIBARCHIVE.xattr.` names URL-decoded as libarchive decodes them, and every name ending at
/// its first NUL, where the C call that sets the attribute would end it. None for other
/// records and for empty names.
pub(super) fn xattr_attribute(key: &str) -> Option<Cow<'_, [u8]>> {
    let name = if let Some(name) = key.strip_prefix("LIBARCHIVE.xattr.") {
        url_decode(name.as_bytes())
    } else {
        Cow::Borrowed(key.strip_prefix("SCHILY.xattr.")?.as_bytes())
    };
    let name = match name.iter().position(|&b| b == 0) {
        Some(nul) => match name {
            Cow::Borrowed(n) => Cow::Borrowed(&n[..nul]),
            Cow::Owned(mut n) => {
                n.truncate(nul);
                Cow::Owned(n)
            }
        },
        None => name,
    };
    (!name.is_empty()).then_some(name)
}

/// The value an xattr record sets: `LIBARCHIVE.xattr.` values are base64.
fn xattr_value<'v>(key: &str, value: &'v [u8]) -> Cow<'v, [u8]> {
    if key.starts_with("LIBARCHIVE.xattr.") {
        Cow::Owned(base64_decode(value))
    } else {
        Cow::Borrowed(value)
    }
}

/// libarchive's `url_decode`: `%XX` with two hex digits is one byte, any other `%` stays.
fn url_decode(name: &[u8]) -> Cow<'_, [u8]> {
    if !name.contains(&b'%') {
        return Cow::Borrowed(name);
    }
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        if name[i] == b'%' && i + 2 < name.len() {
            if let (Some(hi), Some(lo)) = (hex(name[i + 1]), hex(name[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(name[i]);
        i += 1;
    }
    Cow::Owned(out)
}

/// libarchive's lenient `base64_decode`: characters outside the alphabet are skipped, `=` or
/// `_` ends the data, and a final group of one character gives nothing.
fn base64_decode(text: &[u8]) -> Vec<u8> {
    let digit = |b: u8| -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let (mut group, mut n) = (0u32, 0);
    for &b in text.iter().take_while(|&&b| b != b'=' && b != b'_') {
        let Some(d) = digit(b) else { continue };
        group = group << 6 | d;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&group.to_be_bytes()[1..]);
            (group, n) = (0, 0);
        }
    }
    let group = group << (6 * (4 - n));
    out.extend_from_slice(&group.to_be_bytes()[1..][..n * 3 / 4]);
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tar_header::push_record;

    #[test]
    fn unknown_records_are_dropped_and_conflicting_ones_refused() {
        let mut data = Vec::new();
        push_record(&mut data, "comment", b"hi");
        push_record(&mut data, "SCHILY.xattr.user.a", b"1");
        push_record(&mut data, "path", b"a");
        push_record(&mut data, "path", b"a");
        let mut records = Records::default();
        records.add(&data).unwrap();
        assert_eq!(records.list.len(), 2, "{:?}", records.list);
        let mut twice = Vec::new();
        push_record(&mut twice, "path", b"b");
        let err = records.add(&twice).unwrap_err();
        assert!(err.contains("two different \"path\" records"), "{err}");
    }

    #[test]
    fn libarchive_names_and_values_decode_as_libarchive_decodes_them() {
        let name = |key: &str| xattr_attribute(key).map(|n| n.into_owned());
        assert_eq!(
            name("LIBARCHIVE.xattr.%73ecurity%2ecapability"),
            Some(b"security.capability".to_vec())
        );
        // A `%` without two hex digits stays; a NUL ends the name.
        assert_eq!(
            name("LIBARCHIVE.xattr.user.%zz%4"),
            Some(b"user.%zz%4".to_vec())
        );
        assert_eq!(
            name("LIBARCHIVE.xattr.user.a%00b"),
            Some(b"user.a".to_vec())
        );
        assert_eq!(name("SCHILY.xattr.user.%41"), Some(b"user.%41".to_vec()));
        assert_eq!(name("LIBARCHIVE.xattr.%00"), None);
        assert_eq!(name("LIBARCHIVE.xattr."), None);
        assert_eq!(name("mtime"), None);

        assert_eq!(base64_decode(b"AQAAAg=="), [1, 0, 0, 2]);
        assert_eq!(base64_decode(b"AQ\nAA Ag"), [1, 0, 0, 2]);
        assert_eq!(base64_decode(b"MQ"), b"1");
        assert_eq!(base64_decode(b"MTI"), b"12");
        assert_eq!(base64_decode(b"M"), b"");
        assert_eq!(base64_decode(b"MQ==Mg=="), b"1");
        assert_eq!(base64_decode(b"MQ_x"), b"1");
    }

    #[test]
    fn many_distinct_records_are_checked_in_linear_time() {
        // About 50,000 records in one 1 MiB header. Looking each up among the ones before
        // took over a billion comparisons, many seconds even optimised.
        let mut data = Vec::new();
        let mut n = 0;
        while data.len() < (1 << 20) - 40 {
            push_record(&mut data, &format!("SCHILY.xattr.{n:x}"), b"");
            n += 1;
        }
        let started = std::time::Instant::now();
        let mut records = Records::default();
        records.add(&data).unwrap();
        records.add(&data).unwrap();
        let took = started.elapsed();
        assert_eq!(records.list.len(), n);
        assert!(
            took < std::time::Duration::from_secs(2),
            "{n} records took {took:?}"
        );
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

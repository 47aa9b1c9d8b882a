//! Reading a layer tar's headers with every size bounded before it is read.
//!
//! The tar crate reads GNU long names and PAX headers whole, whatever size they claim, and
//! leaves the ustar prefix of a `ustar\0` + `\0\0` header unapplied while other readers apply
//! it. So drag parses headers itself: it reads only what it can check, and it decides each
//! entry's name the way containerd (Go's `archive/tar`) does, since that is how a runtime
//! would have seen the layer.
//!
//! What a layer may say, and what drag does with it:
//! - GNU long names/links (`L`/`K`) and PAX headers (`x`) are read only up to
//!   [`MAX_METADATA_RECORD`] bytes, each and all of those before one entry together; a
//!   larger one is refused before any of it is read.
//! - A name or attribute given twice for one entry (two `path` records, a PAX `path` and a
//!   GNU long name that differ, two long-name records...) is refused unless every copy says
//!   the same: readers disagree on which copy wins.
//! - PAX records are allow-listed (see the `pax` module); the rest are dropped.
//! - GNU sparse entries (type `S`, or `GNU.sparse.*` PAX records) are refused: no image
//!   builder writes them, readers differ on them, and expanding one lets a small layer demand
//!   an unbounded output.
//! - A GNU header whose access or change time is not a number is refused: Go reads such a
//!   header's time bytes as a name prefix, drag and GNU tar do not (see
//!   `Header::gnu_times_are_numbers`). Zero or numeric times are read as GNU times.
//! - Global PAX headers (`g`) are skipped unread, as containerd ignores them.
//! - Header-only types (links, directories, devices, FIFOs) carry no data whatever their size
//!   field says, as in Go's reader.

use std::fs::File;
use std::io::{self, BufReader, Read};

use super::names::shown;
use super::pax::Records;

/// The largest GNU long name/link or PAX header drag reads, and the most bytes of them
/// together before one entry.
pub const MAX_METADATA_RECORD: u64 = 1 << 20;

const BLOCK: u64 = 512;

/// An entry as drag parsed it: everything the output's fresh header is built from.
#[derive(Debug)]
pub(super) struct Parsed {
    pub typeflag: u8,
    pub path: Vec<u8>,
    pub link: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    pub uname: Vec<u8>,
    pub gname: Vec<u8>,
    pub dev_major: u64,
    pub dev_minor: u64,
    /// Where the data starts in the layer file, and how long it is.
    pub data_pos: u64,
    pub size: u64,
    /// PAX records kept for the output: precise times and extended attributes.
    pub extra: Vec<(String, Vec<u8>)>,
}

/// Why a layer cannot be read: its file failed, or what it says is refused.
#[derive(Debug)]
pub(super) enum ReadError {
    Io(io::Error),
    /// (the entry's name as far as it is known, why)
    Refused(Vec<u8>, String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

fn refuse<T>(name: &[u8], reason: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError::Refused(name.to_vec(), reason.into()))
}

/// The entries of one layer file, in order.
pub(super) struct LayerReader {
    file: BufReader<File>,
    pos: u64,
    len: u64,
    done: bool,
}

impl LayerReader {
    pub fn new(file: File, len: u64) -> LayerReader {
        LayerReader {
            file: BufReader::with_capacity(64 * 1024, file),
            pos: 0,
            len,
            done: false,
        }
    }

    /// The next entry, or None at the end of the archive.
    pub fn next_entry(&mut self) -> Result<Option<Parsed>, ReadError> {
        if self.done {
            return Ok(None);
        }
        // Extension records waiting for the entry they describe.
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut records = Records::default();
        // Bytes of those records so far: each is capped, and so is their sum, or any number
        // of headers could pile up in front of one entry.
        let mut metadata_bytes: u64 = 0;
        loop {
            let Some(block) = self.read_block()? else {
                self.done = true;
                return Ok(None);
            };
            let header = Header(&block);
            let name = header.name();
            if !header.checksum_ok() {
                return refuse(&name, "bad tar header checksum");
            }
            let typeflag = header.0[156];
            let size = header.number(124, 12).or_else(|r| refuse(&name, r))?;
            let data_pos = self.pos;
            // Where the next header is, for the extension records below.
            let end = data_pos
                .checked_add(size)
                .filter(|&e| e <= self.len)
                .map(|e| e.div_ceil(BLOCK) * BLOCK);
            match typeflag {
                b'x' | b'L' | b'K' => {
                    if size > MAX_METADATA_RECORD {
                        let what = match typeflag {
                            b'x' => "PAX header",
                            b'L' => "GNU long name",
                            _ => "GNU long link",
                        };
                        return refuse(
                            &name,
                            format!(
                                "{what} of {size} bytes is over the limit of {} bytes",
                                MAX_METADATA_RECORD
                            ),
                        );
                    }
                    metadata_bytes += size;
                    if metadata_bytes > MAX_METADATA_RECORD {
                        return refuse(
                            &name,
                            format!(
                                "PAX and GNU long-name headers for one entry total over the \
                                 limit of {MAX_METADATA_RECORD} bytes"
                            ),
                        );
                    }
                    let Some(end) = end else {
                        return refuse(&name, "entry data runs past the end of the layer");
                    };
                    let mut data = vec![0; size as usize];
                    self.file.read_exact(&mut data)?;
                    self.skip_to(data_pos + size, end)?;
                    match typeflag {
                        b'x' => records
                            .add(&data)
                            .or_else(|r| refuse(&name, format!("PAX header: {r}")))?,
                        _ => {
                            let value = until_nul(&data).to_vec();
                            let slot = if typeflag == b'L' {
                                &mut long_name
                            } else {
                                &mut long_link
                            };
                            if slot.as_ref().is_some_and(|old| *old != value) {
                                return refuse(&value, "two different GNU long-name records");
                            }
                            *slot = Some(value);
                        }
                    }
                }
                b'g' => match end {
                    Some(end) => self.skip_to(data_pos, end)?,
                    None => return refuse(&name, "entry data runs past the end of the layer"),
                },
                b'S' => return refuse(&name, "GNU sparse entries are not supported"),
                _ => {
                    let entry = self.entry(&header, size, long_name, long_link, records)?;
                    // Header-only types skip nothing, even with a size in their header;
                    // `entry` checked that the data fits in the file.
                    let end = (data_pos + entry.size).div_ceil(BLOCK) * BLOCK;
                    self.skip_to(data_pos, end)?;
                    return Ok(Some(entry));
                }
            }
        }
    }

    fn entry(
        &mut self,
        header: &Header<'_>,
        header_size: u64,
        long_name: Option<Vec<u8>>,
        long_link: Option<Vec<u8>>,
        records: Records,
    ) -> Result<Parsed, ReadError> {
        let mut path = header.name();
        let num = |off, len| header.number(off, len);
        let refuse_num = |r: String| ReadError::Refused(header.name(), r);
        let mut entry = Parsed {
            typeflag: header.0[156],
            path: Vec::new(),
            link: until_nul(&header.0[157..257]).to_vec(),
            mode: (num(100, 8).map_err(refuse_num)? & 0o7777) as u32,
            uid: num(108, 8).map_err(refuse_num)?,
            gid: num(116, 8).map_err(refuse_num)?,
            mtime: header.signed(136, 12).map_err(refuse_num)?,
            uname: Vec::new(),
            gname: Vec::new(),
            dev_major: 0,
            dev_minor: 0,
            data_pos: self.pos,
            size: header_size,
            extra: Vec::new(),
        };
        if header.is_gnu() && !header.gnu_times_are_numbers() {
            return refuse(
                &header.name(),
                "ambiguous GNU header: its access or change time is not a number, and Go's \
                 reader (so containerd) then takes those bytes for a ustar name prefix",
            );
        }
        if header.is_ustar() || header.is_gnu() {
            entry.uname = until_nul(&header.0[265..297]).to_vec();
            entry.gname = until_nul(&header.0[297..329]).to_vec();
            entry.dev_major = num(329, 8).map_err(refuse_num)?;
            entry.dev_minor = num(337, 8).map_err(refuse_num)?;
        }
        // A GNU long name and a PAX path for one entry must agree: readers pick different ones.
        for (long, key) in [(&long_name, "path"), (&long_link, "linkpath")] {
            if let (Some(long), Some(pax)) = (long, records.get(key)) {
                if long != pax {
                    return refuse(
                        pax,
                        format!("two different names: {key} and a GNU long-name record"),
                    );
                }
            }
        }
        if let Some(long) = long_name {
            path = long;
        }
        if let Some(long) = long_link {
            entry.link = long;
        }
        let name_for_errors = records.get("path").unwrap_or(&path).to_vec();
        let applied = records
            .apply(&mut entry, &mut path)
            .or_else(|r| refuse(&name_for_errors, r))?;
        if applied.sparse {
            return refuse(&path, "GNU sparse entries are not supported");
        }
        entry.path = path;
        if is_header_only(entry.typeflag) {
            entry.size = 0;
        } else if entry
            .data_pos
            .checked_add(entry.size)
            .is_none_or(|e| e > self.len)
        {
            return refuse(&entry.path, "entry data runs past the end of the layer");
        }
        Ok(entry)
    }

    /// Reads the next 512-byte block; None at the end of the archive (an all-zero block, or
    /// the end of the file right on a block boundary).
    fn read_block(&mut self) -> Result<Option<[u8; 512]>, ReadError> {
        let mut block = [0u8; 512];
        let mut filled = 0;
        while filled < block.len() {
            let n = self.file.read(&mut block[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        self.pos += filled as u64;
        match filled {
            0 => Ok(None),
            512 if block.iter().all(|&b| b == 0) => Ok(None),
            512 => Ok(Some(block)),
            _ => Err(ReadError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "layer ends inside a tar header",
            ))),
        }
    }

    /// Moves from `at` (where the reader is now) to `to`.
    fn skip_to(&mut self, at: u64, to: u64) -> Result<(), ReadError> {
        debug_assert!(to >= at);
        let delta = to - at;
        let delta = i64::try_from(delta).map_err(|_| io::Error::other("offset overflow"))?;
        self.file.seek_relative(delta)?;
        self.pos = to;
        Ok(())
    }
}

/// Types whose entries have no data, whatever their size field says (as in Go's reader).
fn is_header_only(typeflag: u8) -> bool {
    matches!(typeflag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6')
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes
        .iter()
        .position(|&b| b == 0)
        .map_or(bytes, |n| &bytes[..n])
}

/// A raw 512-byte header, read field by field.
struct Header<'a>(&'a [u8; 512]);

impl Header<'_> {
    fn is_ustar(&self) -> bool {
        &self.0[257..263] == b"ustar\0"
    }

    fn is_gnu(&self) -> bool {
        &self.0[257..265] == b"ustar  \0"
    }

    /// The name field, with the ustar prefix applied as Go applies it: for any `ustar\0`
    /// magic whatever the version, 131 bytes long in star archives. GNU headers keep times
    /// where the prefix would be, so theirs is never applied (a GNU header whose times Go
    /// would take for a prefix is refused).
    fn name(&self) -> Vec<u8> {
        let name = until_nul(&self.0[..100]);
        if !self.is_ustar() {
            return name.to_vec();
        }
        let prefix = if &self.0[508..512] == b"tar\0" {
            until_nul(&self.0[345..476])
        } else {
            until_nul(&self.0[345..500])
        };
        if prefix.is_empty() {
            return name.to_vec();
        }
        [prefix, b"/", name].concat()
    }

    /// Whether the GNU access and change times (bytes 345..369) read as numbers the way Go
    /// reads them. When either does not, Go's `archive/tar` takes the header for one written
    /// by its own pre-1.8 writer and applies bytes 345..500 as a ustar prefix if they are
    /// ASCII (golang.org/issues/12594, 21005), while drag and GNU tar do not: the same
    /// entry would have two names.
    fn gnu_times_are_numbers(&self) -> bool {
        [&self.0[345..357], &self.0[357..369]]
            .into_iter()
            .all(go_reads_number)
    }

    /// The checksum as unsigned or (old Sun tar) signed byte sums.
    fn checksum_ok(&self) -> bool {
        let Ok(stored) = self.number(148, 8) else {
            return false;
        };
        let (mut unsigned, mut signed) = (0u64, 0i64);
        for (i, &b) in self.0.iter().enumerate() {
            let b = if (148..156).contains(&i) { b' ' } else { b };
            unsigned += u64::from(b);
            signed += i64::from(b as i8);
        }
        stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
    }

    fn number(&self, off: usize, len: usize) -> Result<u64, String> {
        let value = self.signed(off, len)?;
        u64::try_from(value).map_err(|_| format!("negative number at header offset {off}"))
    }

    /// An octal field, or GNU's base-256 for values that do not fit.
    fn signed(&self, off: usize, len: usize) -> Result<i64, String> {
        let field = &self.0[off..off + len];
        let bad = || format!("bad number at header offset {off}");
        if field[0] & 0x80 != 0 {
            let negative = field[0] & 0x40 != 0;
            let mut value: i128 = if negative { -1 } else { 0 };
            for (i, &b) in field.iter().enumerate() {
                let b = if i == 0 { b & 0x7f } else { b };
                let b = if i == 0 && negative { b | 0x80 } else { b };
                value = value.checked_mul(256).ok_or_else(bad)? | i128::from(b);
                if value.unsigned_abs() > u128::from(u64::MAX) {
                    return Err(bad());
                }
            }
            return i64::try_from(value).map_err(|_| bad());
        }
        let text = until_nul(field);
        let text: Vec<u8> = text
            .iter()
            .copied()
            .skip_while(|&b| b == b' ')
            .take_while(|&b| b != b' ')
            .collect();
        if text.is_empty() {
            return Ok(0);
        }
        let mut value: i64 = 0;
        for b in text {
            if !(b'0'..=b'7').contains(&b) {
                return Err(bad());
            }
            value = value
                .checked_mul(8)
                .and_then(|v| v.checked_add(i64::from(b - b'0')))
                .ok_or_else(bad)?;
        }
        Ok(value)
    }
}

/// Whether Go's `archive/tar` parses a numeric field without error: a field starting with
/// NUL is not read at all; base-256 must fit in 63 bits; octal is trimmed of spaces and NULs
/// at both ends, cut at the first NUL left, and must then be octal digits only.
fn go_reads_number(field: &[u8]) -> bool {
    match field.first() {
        None | Some(0) => true,
        Some(&first) if first & 0x80 != 0 => {
            let invert = if first & 0x40 != 0 { 0xff } else { 0 };
            let mut x: u64 = 0;
            for (i, &b) in field.iter().enumerate() {
                let b = if i == 0 {
                    (b ^ invert) & 0x7f
                } else {
                    b ^ invert
                };
                if x >> 56 != 0 {
                    return false;
                }
                x = x << 8 | u64::from(b);
            }
            x >> 63 == 0
        }
        Some(_) => {
            let edge = |b: &u8| *b == b' ' || *b == 0;
            let start = field.iter().position(|b| !edge(b)).unwrap_or(field.len());
            let end = field
                .iter()
                .rposition(|b| !edge(b))
                .map_or(start, |e| e + 1);
            let text = until_nul(&field[start..end]);
            text.iter().all(|b| (b'0'..=b'7').contains(b))
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Refused(name, reason) => write!(f, "entry {}: {reason}", shown(name)),
        }
    }
}

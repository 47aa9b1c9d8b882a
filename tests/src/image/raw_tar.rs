//! Tar bytes written header field by header field, for hostile layers.
//!
//! [`LayerBuilder`](super::LayerBuilder) writes well-formed GNU tars. Attacks on tar readers
//! live in the fields it never sets: a `ustar\0` magic with version `\0\0` and a prefix,
//! GNU access/change times where a ustar prefix would be, PAX records a reader should not
//! trust, name records that contradict each other. [`RawHeader`] sets any byte; [`RawTar`]
//! strings headers, data and extension records together and fixes each checksum.

/// One 512-byte header. Numeric fields are written as octal; [`RawHeader::poke`] writes any
/// bytes anywhere (after which the checksum is still recomputed on append).
#[derive(Clone, Debug)]
pub struct RawHeader {
    block: [u8; 512],
    /// A size to write instead of the data's length.
    size: Option<u64>,
}

impl RawHeader {
    /// A POSIX ustar header (`ustar\0`, version `00`), mode 0644, root-owned, mtime 1.7e9.
    pub fn ustar(name: impl AsRef<[u8]>, typeflag: u8) -> RawHeader {
        let mut h = RawHeader {
            block: [0; 512],
            size: None,
        };
        h = h.poke(0, &name.as_ref()[..name.as_ref().len().min(100)]);
        h = h.mode(0o644).uid(0).gid(0).mtime(super::DEFAULT_MTIME);
        h.block[156] = typeflag;
        h.poke(257, b"ustar\x0000")
    }

    /// A GNU header (`ustar  \0`), otherwise as [`RawHeader::ustar`].
    pub fn gnu(name: impl AsRef<[u8]>, typeflag: u8) -> RawHeader {
        RawHeader::ustar(name, typeflag).poke(257, b"ustar  \0")
    }

    /// Writes `bytes` at `offset`.
    pub fn poke(mut self, offset: usize, bytes: &[u8]) -> RawHeader {
        self.block[offset..offset + bytes.len()].copy_from_slice(bytes);
        self
    }

    fn octal(self, offset: usize, len: usize, value: u64) -> RawHeader {
        let text = format!("{value:0width$o}\0", width = len - 1);
        self.poke(offset, text.as_bytes())
    }

    pub fn mode(self, mode: u32) -> RawHeader {
        self.octal(100, 8, u64::from(mode))
    }

    pub fn uid(self, uid: u64) -> RawHeader {
        self.octal(108, 8, uid)
    }

    pub fn gid(self, gid: u64) -> RawHeader {
        self.octal(116, 8, gid)
    }

    pub fn mtime(self, mtime: u64) -> RawHeader {
        self.octal(136, 12, mtime)
    }

    /// The size field, whatever data follows.
    pub fn size(mut self, size: u64) -> RawHeader {
        self.size = Some(size);
        self
    }

    /// The link name field (100 bytes at most).
    pub fn link(self, link: impl AsRef<[u8]>) -> RawHeader {
        let link = link.as_ref();
        self.poke(157, &link[..link.len().min(100)])
    }

    /// The ustar prefix field (155 bytes at most).
    pub fn prefix(self, prefix: impl AsRef<[u8]>) -> RawHeader {
        let prefix = prefix.as_ref();
        self.poke(345, &prefix[..prefix.len().min(155)])
    }

    /// The 512 bytes with the size set and the checksum computed.
    pub fn bytes(&self, data_len: u64) -> [u8; 512] {
        let mut h = self.clone().octal(124, 12, self.size.unwrap_or(data_len));
        h.block[148..156].fill(b' ');
        let sum: u64 = h.block.iter().map(|&b| u64::from(b)).sum();
        h.block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h.block
    }
}

/// A tar stream built from raw headers.
#[derive(Clone, Debug, Default)]
pub struct RawTar {
    bytes: Vec<u8>,
}

impl RawTar {
    pub fn new() -> RawTar {
        RawTar::default()
    }

    /// Appends `header` and `data`, padded to a block.
    pub fn entry(mut self, header: RawHeader, data: impl AsRef<[u8]>) -> RawTar {
        let data = data.as_ref();
        self.bytes
            .extend_from_slice(&header.bytes(data.len() as u64));
        self.bytes.extend_from_slice(data);
        self.bytes.resize(self.bytes.len().div_ceil(512) * 512, 0);
        self
    }

    /// A regular ustar file.
    pub fn file(self, name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> RawTar {
        self.entry(RawHeader::ustar(name, b'0'), data)
    }

    /// A PAX extended header (type `x`) with `records`, for the next entry.
    pub fn pax(self, records: &[(&str, &[u8])]) -> RawTar {
        let mut data = Vec::new();
        for (key, value) in records {
            data.extend_from_slice(&pax_record(key, value));
        }
        self.entry(RawHeader::ustar("./PaxHeaders/x", b'x'), data)
    }

    /// A GNU long-name record (type `L`) for the next entry.
    pub fn gnu_long_name(self, name: impl AsRef<[u8]>) -> RawTar {
        let data = [name.as_ref(), b"\0"].concat();
        self.entry(RawHeader::gnu("././@LongLink", b'L'), data)
    }

    /// A GNU long-link record (type `K`) for the next entry.
    pub fn gnu_long_link(self, link: impl AsRef<[u8]>) -> RawTar {
        let data = [link.as_ref(), b"\0"].concat();
        self.entry(RawHeader::gnu("././@LongLink", b'K'), data)
    }

    /// The archive, with its two zero blocks at the end.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(&[0; 1024]);
        self.bytes
    }
}

/// One PAX record, `LEN KEY=VALUE\n`, LEN counting the whole record.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

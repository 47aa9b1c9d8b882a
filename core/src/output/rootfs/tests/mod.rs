//! Test helpers for the rootfs writer: layer builders, listings of its output, raw headers.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use tar::{EntryType, Header};

use super::*;

mod headers;
mod limits;
mod merging;

/// A layer tar built in memory. Short names are written into the header as given, so
/// tests can write what the tar crate's own setters refuse (`..`, absolute paths).
struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Layer {
        Layer(tar::Builder::new(Vec::new()))
    }

    fn add(
        mut self,
        ty: EntryType,
        path: &str,
        link: Option<&str>,
        mode: u32,
        (uid, gid): (u64, u64),
        data: &[u8],
    ) -> Layer {
        let mut h = Header::new_ustar();
        h.set_entry_type(ty);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        if path.len() <= 100 && link.is_none_or(|l| l.len() <= 100) {
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            if let Some(l) = link {
                h.set_link_name_literal(l).unwrap();
            }
            h.set_cksum();
            self.0.append(&h, data).unwrap();
        } else if let Some(l) = link {
            self.0.append_link(&mut h, path, l).unwrap();
        } else {
            self.0.append_data(&mut h, path, data).unwrap();
        }
        self
    }

    fn dir(self, path: &str, mode: u32) -> Layer {
        self.add(EntryType::Directory, path, None, mode, (0, 0), b"")
    }

    fn owned_dir(self, path: &str, mode: u32, uid: u64, gid: u64) -> Layer {
        self.add(EntryType::Directory, path, None, mode, (uid, gid), b"")
    }

    fn file(self, path: &str, mode: u32, data: &[u8]) -> Layer {
        self.add(EntryType::Regular, path, None, mode, (0, 0), data)
    }

    fn owned_file(self, path: &str, mode: u32, uid: u64, gid: u64, data: &[u8]) -> Layer {
        self.add(EntryType::Regular, path, None, mode, (uid, gid), data)
    }

    fn whiteout(self, path: &str) -> Layer {
        self.file(path, 0o600, b"")
    }

    fn symlink(self, path: &str, target: &str) -> Layer {
        self.add(EntryType::Symlink, path, Some(target), 0o777, (0, 0), b"")
    }

    fn hardlink(self, path: &str, target: &str) -> Layer {
        self.add(EntryType::Link, path, Some(target), 0o644, (0, 0), b"")
    }

    fn pax(mut self, records: &[(&str, &[u8])]) -> Layer {
        self.0
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self
    }

    fn raw(mut self, mut header: Header, path: &str, data: &[u8]) -> Layer {
        self.0.append_data(&mut header, path, data).unwrap();
        self
    }
}

/// Writes the layers to files and merges them; returns whatever was written even when
/// the merge fails.
fn rootfs(layers: Vec<Layer>) -> (Result<RootfsStats>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = layers
        .into_iter()
        .enumerate()
        .map(|(i, layer)| {
            let path = dir.path().join(format!("layer{i}.tar"));
            std::fs::write(&path, layer.0.into_inner().unwrap()).unwrap();
            path
        })
        .collect();
    let mut out = Vec::new();
    let result = write_with(&paths, RootfsOptions::default(), &mut out);
    (result, out)
}

fn merged(layers: Vec<Layer>) -> (Vec<Item>, RootfsStats) {
    let (result, out) = rootfs(layers);
    let stats = result.unwrap();
    let items = listing(&out);
    assert_well_formed(&items);
    assert_eq!(stats.entries, items.len() as u64);
    let bytes: usize = items.iter().map(|i| i.data.len()).sum();
    assert_eq!(stats.bytes, bytes as u64);
    (items, stats)
}

fn refusal(layers: Vec<Layer>) -> String {
    let (result, out) = rootfs(layers);
    let err = result.expect_err("merge should be refused");
    assert!(out.is_empty(), "nothing is written before a refusal");
    err.to_string()
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Item {
    path: String,
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    link: Option<String>,
    data: Vec<u8>,
}

impl Item {
    fn mode(mut self, mode: u32) -> Item {
        self.mode = mode;
        self
    }

    fn owner(mut self, uid: u64, gid: u64) -> Item {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

fn item(path: &str, kind: char, mode: u32, link: Option<&str>, data: &[u8]) -> Item {
    Item {
        path: path.into(),
        kind,
        mode,
        uid: 0,
        gid: 0,
        link: link.map(Into::into),
        data: data.into(),
    }
}

fn dir(path: &str, mode: u32) -> Item {
    item(path, 'd', mode, None, b"")
}

fn file(path: &str, mode: u32, data: &[u8]) -> Item {
    item(path, 'f', mode, None, data)
}

fn symlink(path: &str, target: &str) -> Item {
    item(path, 's', 0o777, Some(target), b"")
}

fn hardlink(path: &str, target: &str) -> Item {
    item(path, 'h', 0o644, Some(target), b"")
}

fn listing(archive: &[u8]) -> Vec<Item> {
    let mut archive = tar::Archive::new(archive);
    let mut items = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let h = entry.header();
        let kind = match h.entry_type() {
            EntryType::Directory => 'd',
            EntryType::Regular => 'f',
            EntryType::Symlink => 's',
            EntryType::Link => 'h',
            EntryType::Char => 'c',
            EntryType::Block => 'b',
            EntryType::Fifo => 'p',
            other => panic!("unexpected entry type {other:?}"),
        };
        let mut item = Item {
            path: String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
            kind,
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            link: entry
                .link_name_bytes()
                .map(|l| String::from_utf8(l.into_owned()).unwrap()),
            data: Vec::new(),
        };
        entry.read_to_end(&mut item.data).unwrap();
        items.push(item);
    }
    items
}

/// No duplicates, every parent directory before its children, every hard link after its
/// target.
fn assert_well_formed(items: &[Item]) {
    let mut seen: HashMap<&str, char> = HashMap::new();
    for it in items {
        let trimmed = it.path.trim_end_matches('/');
        if let Some((parent, _)) = trimmed.rsplit_once('/') {
            assert_eq!(
                seen.get(format!("{parent}/").as_str()),
                Some(&'d'),
                "{} comes before its parent directory",
                it.path
            );
        }
        if it.kind == 'h' {
            let target = it.link.as_deref().unwrap();
            assert!(
                matches!(seen.get(target), Some(k) if *k != 'd' && *k != 'h'),
                "hard link {} comes before its target {target}",
                it.path
            );
        }
        assert!(
            seen.insert(&it.path, it.kind).is_none(),
            "{} twice",
            it.path
        );
    }
}

/// A layer's tar bytes with one raw 512-byte header (checksum fixed) and data.
fn raw_layer(mut block: [u8; 512], data: &[u8]) -> Vec<u8> {
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = block.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

fn raw_rootfs(layers: Vec<Vec<u8>>) -> (Result<RootfsStats>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = layers
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let path = dir.path().join(format!("layer{i}.tar"));
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect();
    let mut out = Vec::new();
    let result = write_with(&paths, RootfsOptions::default(), &mut out);
    (result, out)
}

fn octal_field(block: &mut [u8; 512], at: usize, len: usize, value: u64) {
    let text = format!("{value:0width$o}", width = len - 1);
    block[at..at + len - 1].copy_from_slice(text.as_bytes());
}

fn header_block(name: &[u8], typeflag: u8, size: u64) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[..name.len()].copy_from_slice(name);
    octal_field(&mut b, 100, 8, 0o644);
    octal_field(&mut b, 108, 8, 0);
    octal_field(&mut b, 116, 8, 0);
    octal_field(&mut b, 124, 12, size);
    octal_field(&mut b, 136, 12, 1_700_000_000);
    b[156] = typeflag;
    b
}

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use tar::{EntryType, Header};

use super::*;

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
    let result = write(&paths, &mut out);
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

#[test]
fn layers_merge_with_whiteouts_opaque_dirs_and_links() {
    let base = Layer::new()
        .dir("./", 0o755)
        .dir("data/", 0o755)
        .owned_file("data/orig", 0o600, 1000, 1000, b"original")
        .dir("etc/", 0o755)
        .file("etc/hosts", 0o644, b"127.0.0.1 localhost\n")
        .file("etc/passwd", 0o644, b"root:x:0:0::/root:/bin/sh\n")
        .dir("opt/", 0o755)
        .file("opt/old.txt", 0o644, b"old")
        .dir("opt/sub/", 0o755)
        .file("opt/sub/deep.txt", 0o644, b"deep")
        .dir("usr/", 0o755)
        .dir("usr/bin/", 0o755)
        .file("usr/bin/tool", 0o755, b"#!/bin/sh\n")
        .dir("var/", 0o755)
        .dir("var/cache/", 0o755)
        .file("var/cache/a.bin", 0o644, b"a")
        .dir("var/cache/sub/", 0o755)
        .file("var/cache/sub/b.bin", 0o644, b"b");
    let second = Layer::new()
        // A whiteout hides lower layers only, not this layer's own entry before it.
        .file("etc/motd", 0o644, b"hello")
        .whiteout("etc/.wh.motd")
        .whiteout("etc/.wh.hosts")
        .whiteout("var/.wh.cache")
        // Entries of the opaque directory's own layer stay, on either side of the marker.
        .owned_dir("opt/", 0o700, 2000, 2000)
        .file("opt/new.txt", 0o644, b"new")
        .whiteout("opt/.wh..wh..opq")
        .file("opt/newer.txt", 0o644, b"newer")
        .file("etc/passwd", 0o600, b"root:x:0:0:root:/root:/bin/bash\n")
        .symlink("usr/bin/alias", "/usr/bin/tool")
        .hardlink("usr/bin/tool2", "usr/bin/tool")
        .hardlink("data/link", "/data/orig")
        .dir(".wh..wh.plnk/", 0o700)
        .whiteout(".wh..wh.aufs");
    let third = Layer::new()
        .file("etc/hosts", 0o644, b"10.0.0.1 db\n")
        .whiteout("data/.wh.orig");

    let (items, _) = merged(vec![base, second, third]);
    assert_eq!(
        items,
        [
            dir("data/", 0o755),
            file("data/link", 0o600, b"original").owner(1000, 1000),
            dir("etc/", 0o755),
            file("etc/hosts", 0o644, b"10.0.0.1 db\n"),
            file("etc/motd", 0o644, b"hello"),
            file("etc/passwd", 0o600, b"root:x:0:0:root:/root:/bin/bash\n"),
            dir("opt/", 0o700).owner(2000, 2000),
            file("opt/new.txt", 0o644, b"new"),
            file("opt/newer.txt", 0o644, b"newer"),
            dir("usr/", 0o755),
            dir("usr/bin/", 0o755),
            symlink("usr/bin/alias", "/usr/bin/tool"),
            file("usr/bin/tool", 0o755, b"#!/bin/sh\n"),
            hardlink("usr/bin/tool2", "usr/bin/tool"),
            dir("var/", 0o755),
        ]
    );
}

#[test]
fn entry_escaping_the_root_is_refused_before_anything_is_written() {
    let ok = || Layer::new().file("fine", 0o644, b"fine");
    for evil in ["../evil", "a/../../evil", "./../evil"] {
        let msg = refusal(vec![ok(), Layer::new().file(evil, 0o644, b"x")]);
        assert!(msg.contains("layer 2 of 2"), "{msg}");
        assert!(msg.contains(evil) && msg.contains("escapes"), "{msg}");
    }
}

#[test]
fn absolute_and_dotted_paths_are_made_relative() {
    let layer = Layer::new()
        .file("/abs/file", 0o644, b"1")
        .file("//abs//two", 0o644, b"2")
        .file("./dot/./three", 0o644, b"3")
        .file("a/../b", 0o644, b"4")
        .hardlink("/abs/link", "/abs/file");
    let (items, _) = merged(vec![layer]);
    assert_eq!(
        items,
        [
            // No layer has these directories: they are made up, 0755 root:root.
            dir("abs/", 0o755),
            file("abs/file", 0o644, b"1"),
            hardlink("abs/link", "abs/file"),
            file("abs/two", 0o644, b"2"),
            file("b", 0o644, b"4"),
            dir("dot/", 0o755),
            file("dot/three", 0o644, b"3"),
        ]
    );
}

#[test]
fn hard_link_escaping_the_root_is_refused() {
    for target in ["../../etc/passwd", "/../etc/passwd", "a/../../etc/passwd"] {
        let layer = Layer::new().file("a", 0o644, b"a").hardlink("link", target);
        let msg = refusal(vec![layer]);
        assert!(msg.contains("layer 1 of 1"), "{msg}");
        assert!(
            msg.contains("\"link\"") && msg.contains("hard link"),
            "{msg}"
        );
    }
}

#[test]
fn hard_link_to_missing_target_or_directory_is_refused() {
    let msg = refusal(vec![Layer::new().hardlink("link", "nowhere")]);
    assert!(msg.contains("does not exist"), "{msg}");
    let msg = refusal(vec![Layer::new().dir("d/", 0o755).hardlink("link", "d")]);
    assert!(msg.contains("directory"), "{msg}");
}

#[test]
fn file_replaces_directory_and_directory_replaces_file() {
    let lower = Layer::new()
        .dir("a/", 0o755)
        .file("a/x", 0o644, b"x")
        .dir("a/sub/", 0o755)
        .file("a/sub/y", 0o644, b"y")
        .file("b", 0o644, b"b-file")
        .dir("c/", 0o755)
        .file("c/keep", 0o644, b"keep");
    let upper = Layer::new()
        .file("a", 0o600, b"a-file")
        .dir("b/", 0o750)
        .file("b/z", 0o644, b"z")
        .owned_dir("c/", 0o700, 5, 5);
    let (items, _) = merged(vec![lower, upper]);
    assert_eq!(
        items,
        [
            file("a", 0o600, b"a-file"),
            dir("b/", 0o750),
            file("b/z", 0o644, b"z"),
            dir("c/", 0o700).owner(5, 5),
            file("c/keep", 0o644, b"keep"),
        ]
    );
}

#[test]
fn large_file_streams_through_intact() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let big: Vec<u8> = (0..5 * 1024 * 1024 + 7)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let lower = Layer::new().file("big.bin", 0o644, &big);
    let upper = Layer::new().file("small", 0o644, b"s");
    let (items, stats) = merged(vec![lower, upper]);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].path, "big.bin");
    assert!(items[0].data == big, "content differs");
    assert_eq!(stats.bytes, big.len() as u64 + 1);
}

#[test]
fn entry_below_a_symlink_lands_where_it_points_inside_the_root() {
    let lower = Layer::new()
        .dir("usr/", 0o755)
        .dir("usr/lib/", 0o755)
        .symlink("lib", "usr/lib")
        .symlink("abs", "/usr")
        .symlink("up", "../../..");
    let upper = Layer::new()
        .file("lib/libfoo.so", 0o644, b"foo")
        .file("abs/lib/bar", 0o644, b"bar")
        .file("up/escaped", 0o644, b"no");
    let (items, _) = merged(vec![lower, upper]);
    assert_eq!(
        items,
        [
            symlink("abs", "/usr"),
            file("escaped", 0o644, b"no"),
            symlink("lib", "usr/lib"),
            symlink("up", "../../.."),
            dir("usr/", 0o755),
            dir("usr/lib/", 0o755),
            file("usr/lib/bar", 0o644, b"bar"),
            file("usr/lib/libfoo.so", 0o644, b"foo"),
        ]
    );
}

#[test]
fn entry_below_a_regular_file_is_refused() {
    let lower = Layer::new().file("etc", 0o644, b"not a dir");
    let upper = Layer::new().file("etc/passwd", 0o644, b"x");
    let msg = refusal(vec![lower, upper]);
    assert!(
        msg.contains("layer 2 of 2") && msg.contains("etc/passwd"),
        "{msg}"
    );
    assert!(msg.contains("not a directory"), "{msg}");
}

#[test]
fn symlink_loop_in_a_parent_is_refused() {
    let layer = Layer::new()
        .symlink("a", "b")
        .symlink("b", "a")
        .file("a/x", 0o644, b"x");
    let msg = refusal(vec![layer]);
    assert!(msg.contains("too many symlinks"), "{msg}");
}

#[test]
fn hard_link_keeps_content_when_its_target_is_replaced() {
    let lower = Layer::new().file("f", 0o644, b"old").hardlink("g", "f");
    let upper = Layer::new().file("f", 0o644, b"new");
    let (items, _) = merged(vec![lower, upper]);
    assert_eq!(items, [file("f", 0o644, b"new"), file("g", 0o644, b"old")]);
}

#[test]
fn first_name_of_a_linked_file_carries_the_data() {
    let layer = Layer::new()
        .owned_file("z", 0o640, 7, 8, b"data")
        .hardlink("a", "z")
        .hardlink("m", "a");
    let (items, _) = merged(vec![layer]);
    assert_eq!(
        items,
        [
            file("a", 0o640, b"data").owner(7, 8),
            hardlink("m", "a"),
            item("z", 'h', 0o640, Some("a"), b"").owner(7, 8),
        ]
    );
}

#[test]
fn aufs_hard_link_directory_supplies_content_but_is_not_written() {
    let layer = Layer::new()
        .dir(".wh..wh.plnk/", 0o700)
        .file(".wh..wh.plnk/1234.56", 0o755, b"shared")
        .hardlink("bin/a", ".wh..wh.plnk/1234.56")
        .hardlink("bin/b", "/.wh..wh.plnk/1234.56");
    let (items, _) = merged(vec![layer]);
    assert_eq!(
        items,
        [
            dir("bin/", 0o755),
            file("bin/a", 0o755, b"shared"),
            hardlink("bin/b", "bin/a"),
        ]
    );
}

#[test]
fn metadata_long_names_and_special_files_pass_through() {
    let long_dir = format!("deep/{}", "d".repeat(120));
    let long_file = format!("{long_dir}/file");
    let long_target = format!("/{}", "t".repeat(150));
    let mut owned = Header::new_gnu();
    owned.set_entry_type(EntryType::Regular);
    owned.set_mode(0o4755);
    owned.set_uid(1001);
    owned.set_gid(50);
    owned.set_mtime(1_234_567_890);
    owned.set_username("alice").unwrap();
    owned.set_groupname("staff").unwrap();
    owned.set_size(3);
    let mut null = Header::new_ustar();
    null.set_entry_type(EntryType::Char);
    null.set_mode(0o666);
    null.set_device_major(1).unwrap();
    null.set_device_minor(3).unwrap();
    null.set_size(0);
    null.set_uid(0);
    null.set_gid(0);
    null.set_mtime(0);
    let mut fifo = Header::new_ustar();
    fifo.set_entry_type(EntryType::Fifo);
    fifo.set_mode(0o600);
    fifo.set_size(0);
    fifo.set_uid(0);
    fifo.set_gid(0);
    fifo.set_mtime(0);
    let layer = Layer::new()
        .pax(&[("SCHILY.xattr.security.capability", b"\x01\x00\x00\x02")])
        .raw(owned, "bin/ping", b"elf")
        .raw(null, "dev/null", b"")
        .raw(fifo, "run/fifo", b"")
        .file(&long_file, 0o644, b"long")
        .symlink("link-long", &long_target);
    let (result, out) = rootfs(vec![layer]);
    result.unwrap();
    assert_well_formed(&listing(&out));

    let mut archive = tar::Archive::new(&out[..]);
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        match path.as_str() {
            "bin/ping" => {
                let xattrs: Vec<(String, Vec<u8>)> = entry
                    .pax_extensions()
                    .unwrap()
                    .expect("PAX records kept")
                    .map(|e| e.unwrap())
                    .map(|e| (e.key().unwrap().to_owned(), e.value_bytes().to_vec()))
                    .collect();
                assert_eq!(
                    xattrs,
                    [(
                        "SCHILY.xattr.security.capability".to_owned(),
                        b"\x01\x00\x00\x02".to_vec()
                    )]
                );
                let h = entry.header();
                assert_eq!(h.mode().unwrap(), 0o4755);
                assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (1001, 50));
                assert_eq!(h.mtime().unwrap(), 1_234_567_890);
                assert_eq!(h.username().unwrap(), Some("alice"));
                assert_eq!(h.groupname().unwrap(), Some("staff"));
            }
            "dev/null" => {
                let h = entry.header();
                assert_eq!(h.entry_type(), EntryType::Char);
                assert_eq!(h.device_major().unwrap(), Some(1));
                assert_eq!(h.device_minor().unwrap(), Some(3));
            }
            "run/fifo" => assert_eq!(entry.header().entry_type(), EntryType::Fifo),
            "link-long" => {
                let target = entry.link_name_bytes().unwrap().into_owned();
                assert_eq!(target, long_target.as_bytes());
            }
            p if p == long_file => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                assert_eq!(data, b"long");
            }
            _ => {}
        }
        seen.push(path);
    }
    for expected in ["bin/ping", "dev/null", "run/fifo", "link-long", &long_file] {
        assert!(
            seen.iter().any(|p| p == expected),
            "{expected} missing: {seen:?}"
        );
    }
}

#[test]
fn deeply_nested_paths_do_not_exhaust_the_stack() {
    // Just under PATH_MAX: 2000 directories deep, on a small stack.
    let deep = format!("{}f", "d/".repeat(2000));
    let run = move || {
        let lower = || Layer::new().file(&deep, 0o644, b"x");
        let (items, _) = merged(vec![lower()]);
        assert_eq!(items.len(), 2001);
        assert_eq!(items[2000].path, deep);
        // Whiting out the subtree drops it without recursion too.
        let (items, _) = merged(vec![lower(), Layer::new().whiteout("d/d/d/.wh.d")]);
        assert_eq!(items.len(), 3);
    };
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn gnu_sparse_entries_are_refused() {
    let mut h = Header::new_gnu();
    h.set_entry_type(EntryType::GNUSparse);
    h.set_mode(0o644);
    h.set_size(512);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    let old_gnu = Layer::new().raw(h, "sparse.bin", &[b'A'; 512]);
    let msg = refusal(vec![old_gnu]);
    assert!(msg.contains("sparse"), "{msg}");

    let pax = Layer::new()
        .pax(&[
            ("GNU.sparse.name", b"../../escaped".as_slice()),
            ("GNU.sparse.major", b"1"),
            ("GNU.sparse.minor", b"0"),
        ])
        .file("GNUSparseFile.0/x", 0o644, b"data");
    let msg = refusal(vec![pax]);
    assert!(msg.contains("sparse"), "{msg}");
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
    let result = write(&paths, &mut out);
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

#[test]
fn ustar_prefix_is_applied_whatever_the_version_and_never_copied() {
    let mut b = header_block(b"passwd", b'0', 4);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"\0\0");
    b[345..348].copy_from_slice(b"etc");
    let (result, out) = raw_rootfs(vec![raw_layer(b, b"root")]);
    result.unwrap();
    let items = listing(&out);
    assert_eq!(
        items,
        [dir("etc/", 0o755), file("etc/passwd", 0o644, b"root")]
    );
    // Every header drag wrote: plain ustar, no prefix, no GNU time bytes.
    for header in out.chunks(512).take(2) {
        assert_eq!(&header[257..265], b"ustar\x0000");
        assert!(header[345..500].iter().all(|&b| b == 0));
    }
}

/// A GNU header for `file` with `atime` and `ctime` as its raw time fields.
fn gnu_block(atime: &[u8; 12], ctime: &[u8; 12]) -> [u8; 512] {
    let mut b = header_block(b"file", b'0', 1);
    b[257..265].copy_from_slice(b"ustar  \0");
    b[345..357].copy_from_slice(atime);
    b[357..369].copy_from_slice(ctime);
    b
}

#[test]
fn gnu_header_with_numeric_times_is_read_without_a_prefix_nor_copied() {
    let mut base_256 = [0u8; 12];
    base_256[0] = 0x80;
    base_256[8..].copy_from_slice(&1_700_000_000u32.to_be_bytes());
    let cases: [(&[u8; 12], &[u8; 12]); 4] = [
        (&[0; 12], &[0; 12]),
        // Real times: Python would glue `14524261400` in front of the name if copied.
        (b"14524261400\0", b"14524261401\0"),
        (b" 1452426140 ", b"\0\0\0\0\0\0\0\0\0\0\0\0"),
        (&base_256, &base_256),
    ];
    for (atime, ctime) in cases {
        let (result, out) = raw_rootfs(vec![raw_layer(gnu_block(atime, ctime), b"x")]);
        result.unwrap_or_else(|e| panic!("{atime:?} {ctime:?}: {e}"));
        assert_eq!(listing(&out), [file("file", 0o644, b"x")]);
        assert!(out[345..500].iter().all(|&b| b == 0));
    }
}

#[test]
fn gnu_header_whose_times_are_not_numbers_is_refused() {
    // Go's reader (so containerd) reads these bytes as the prefix `../../../tm`, then
    // `p/evil00000`... GNU tar and drag would not: the entry would have two names.
    let cases: [(&[u8; 12], &[u8; 12]); 3] = [
        (b"../../../tm\0", b"p/evil00000\0"),
        (b"00000000000\0", b"etc\0\0\0\0\0\0\0\0\0"),
        (b"1 2\0\0\0\0\0\0\0\0\0", &[0; 12]),
    ];
    for (atime, ctime) in cases {
        let (result, out) = raw_rootfs(vec![raw_layer(gnu_block(atime, ctime), b"x")]);
        let msg = result.expect_err("ambiguous GNU header").to_string();
        assert!(out.is_empty());
        assert!(
            msg.contains("\"file\"") && msg.contains("ambiguous GNU header"),
            "{msg}"
        );
    }
}

#[test]
fn header_only_types_carry_no_data_whatever_their_size() {
    // A symlink claiming 512 bytes of data, which hold another header: Go (and so
    // containerd) reads that header as the next entry, and so does drag.
    let mut link = header_block(b"link", b'2', 512);
    link[157..163].copy_from_slice(b"target");
    let mut bytes = raw_layer(link, &[]);
    bytes.truncate(512);
    bytes.extend(raw_layer(header_block(b"hidden", b'0', 1), b"h"));
    let (result, out) = raw_rootfs(vec![bytes]);
    result.unwrap();
    assert_eq!(
        listing(&out),
        [
            file("hidden", 0o644, b"h"),
            symlink("link", "target").mode(0o644)
        ]
    );
}

#[test]
fn oversized_long_name_is_refused_without_reading_it() {
    let mut b = header_block(b"././@LongLink", b'L', MAX_METADATA_RECORD + 1);
    b[257..265].copy_from_slice(b"ustar  \0");
    // The record's data is absent: the size alone is refused.
    let (result, out) = raw_rootfs(vec![raw_layer(b, b"")]);
    let msg = result.unwrap_err().to_string();
    assert!(out.is_empty());
    assert!(
        msg.contains("GNU long name of 1048577 bytes is over the limit"),
        "{msg}"
    );
}

#[test]
fn conflicting_name_records_are_refused() {
    let long = format!("{}/b", "a".repeat(120));
    let mut gnu = Header::new_gnu();
    gnu.set_entry_type(EntryType::Regular);
    gnu.set_mode(0o644);
    let cases = [
        Layer::new()
            .pax(&[("path", b"etc/passwd".as_slice())])
            .pax(&[("path", b"etc/shadow".as_slice())])
            .file("x", 0o644, b"x"),
        // A GNU long name (the tar crate writes one for a long path in a GNU header)
        // against a PAX path.
        Layer::new()
            .pax(&[("path", b"elsewhere".as_slice())])
            .raw(gnu, &long, b"x"),
    ];
    for layer in cases {
        let msg = refusal(vec![layer]);
        assert!(msg.contains("two different"), "{msg}");
    }
    // Saying the same thing twice is harmless.
    let same = Layer::new()
        .pax(&[("path", b"etc/passwd".as_slice()), ("path", b"etc/passwd")])
        .file("x", 0o644, b"root");
    let (items, _) = merged(vec![same]);
    assert_eq!(
        items,
        [dir("etc/", 0o755), file("etc/passwd", 0o644, b"root")]
    );
}

#[test]
fn pax_records_outside_the_allow_list_are_dropped() {
    let layer = Layer::new()
        .pax(&[
            ("comment", b"hello".as_slice()),
            ("SCHILY.dev", b"7"),
            ("mtime", b"1700000000.25"),
            ("SCHILY.xattr.user.k", b"v"),
            ("LIBARCHIVE.xattr.user.l", b"dg=="),
        ])
        .file("f", 0o644, b"f");
    let (result, out) = rootfs(vec![layer]);
    result.unwrap();
    let mut archive = tar::Archive::new(&out[..]);
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let keys: Vec<String> = entry
        .pax_extensions()
        .unwrap()
        .unwrap()
        .map(|r| r.unwrap().key().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys,
        ["mtime", "SCHILY.xattr.user.k", "LIBARCHIVE.xattr.user.l"]
    );
    assert_eq!(entry.header().mtime().unwrap(), 1_700_000_000);
}

#[test]
fn hard_link_to_a_symlink_is_written_as_a_symlink() {
    let layer = Layer::new().symlink("s", "/etc/shadow").hardlink("h", "s");
    let (items, _) = merged(vec![layer]);
    assert_eq!(
        items,
        [symlink("h", "/etc/shadow"), symlink("s", "/etc/shadow")]
    );
}

#[test]
fn symlink_to_the_root_is_written_as_a_single_slash() {
    let (result, out) = rootfs(vec![Layer::new().symlink("root", "/")]);
    result.unwrap();
    assert_eq!(&out[157..159], b"/\0");
}

#[test]
fn strip_privileges_drops_devices_setid_bits_and_privileged_xattrs() {
    let mut null = Header::new_ustar();
    null.set_entry_type(EntryType::Char);
    null.set_mode(0o666);
    null.set_device_major(1).unwrap();
    null.set_device_minor(3).unwrap();
    null.set_size(0);
    null.set_uid(0);
    null.set_gid(0);
    null.set_mtime(0);
    let layer = || {
        Layer::new()
            .raw(null.clone(), "dev/null", b"")
            .hardlink("dev/null2", "dev/null")
            .pax(&[
                (
                    "SCHILY.xattr.security.capability",
                    b"\x01\x00\x00\x02".as_slice(),
                ),
                ("SCHILY.xattr.trusted.x", b"t"),
                ("SCHILY.xattr.user.keep", b"k"),
            ])
            .owned_file("bin/ping", 0o6755, 0, 0, b"elf")
            .owned_dir("shared/", 0o3775, 0, 0)
    };
    let dir_ = tempfile::tempdir().unwrap();
    let path = dir_.path().join("layer.tar");
    std::fs::write(&path, layer().0.into_inner().unwrap()).unwrap();
    let mut out = Vec::new();
    let options = RootfsOptions {
        strip_privileges: true,
    };
    let stats = write_with(&[path], options, &mut out).unwrap();
    let items = listing(&out);
    assert_eq!(stats.entries, items.len() as u64);
    assert_eq!(
        items,
        [
            dir("bin/", 0o755),
            file("bin/ping", 0o755, b"elf"),
            dir("dev/", 0o755),
            dir("shared/", 0o3775),
        ]
    );
    let mut archive = tar::Archive::new(&out[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path_bytes().as_ref() == b"bin/ping" {
            let keys: Vec<String> = entry
                .pax_extensions()
                .unwrap()
                .unwrap()
                .map(|r| r.unwrap().key().unwrap().to_owned())
                .collect();
            assert_eq!(keys, ["SCHILY.xattr.user.keep"]);
        }
    }
    // Without the option, all of it stays.
    let (items, _) = merged(vec![layer()]);
    assert!(items.iter().any(|i| i.path == "dev/null" && i.kind == 'c'));
    assert!(items
        .iter()
        .any(|i| i.path == "bin/ping" && i.mode == 0o6755));
}

#[test]
fn more_layers_than_open_files_are_read_one_at_a_time() {
    let layers: Vec<Layer> = (0..40)
        .map(|i| {
            Layer::new()
                .file(&format!("f{i:02}"), 0o644, format!("{i}").as_bytes())
                .file("shared", 0o644, format!("top {i}").as_bytes())
        })
        .collect();
    let (items, _) = merged(layers);
    assert_eq!(items.len(), 41);
    assert_eq!(items[0], file("f00", 0o644, b"0"));
    assert_eq!(items[39], file("f39", 0o644, b"39"));
    assert_eq!(items[40], file("shared", 0o644, b"top 39"));
}

#[test]
fn refusal_messages_show_at_most_200_characters_of_a_name() {
    let name = format!("../{}", "x".repeat(3000));
    let layer = Layer::new()
        .pax(&[("path", name.as_bytes())])
        .file("x", 0o644, b"x");
    let msg = refusal(vec![layer]);
    assert!(msg.len() < 400, "{} bytes: {msg}", msg.len());
    assert!(msg.contains("... (3003 bytes)"), "{msg}");
}

#[test]
fn base_256_numbers_are_read_and_large_ids_go_out_as_pax() {
    let mut b = header_block(b"big", b'0', 1);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    // uid 2^33 in GNU's base-256: marker bit, then big-endian bytes.
    let mut uid = [0u8; 8];
    uid[0] = 0x80;
    uid[3] = 0x02;
    b[108..116].copy_from_slice(&uid);
    let (result, out) = raw_rootfs(vec![raw_layer(b, b"x")]);
    result.unwrap();
    let mut archive = tar::Archive::new(&out[..]);
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let records: Vec<(String, Vec<u8>)> = entry
        .pax_extensions()
        .unwrap()
        .unwrap()
        .map(|r| r.unwrap())
        .map(|r| (r.key().unwrap().to_owned(), r.value_bytes().to_vec()))
        .collect();
    assert_eq!(records, [("uid".to_owned(), b"8589934592".to_vec())]);
}

/// The keys of the PAX records in front of entry `path` in an output archive.
fn pax_keys(archive: &[u8], path: &str) -> Vec<String> {
    let mut archive = tar::Archive::new(archive);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path_bytes().as_ref() == path.as_bytes() {
            return match entry.pax_extensions().unwrap() {
                Some(records) => records
                    .map(|r| r.unwrap().key().unwrap().to_owned())
                    .collect(),
                None => Vec::new(),
            };
        }
    }
    panic!("{path} not in the archive");
}

#[test]
fn strip_privileges_decodes_libarchive_xattr_names() {
    let layer = || {
        Layer::new()
            .pax(&[
                // libarchive URL-decodes these names: `security.capability`,
                // `trusted.x` and `security.ima` (the name ends at the NUL).
                (
                    "LIBARCHIVE.xattr.%73ecurity.capability",
                    b"AQAAAg==".as_slice(),
                ),
                ("LIBARCHIVE.xattr.trusted%2Ex", b"dA=="),
                ("LIBARCHIVE.xattr.security.ima%00junk", b"aQ=="),
                ("LIBARCHIVE.xattr.user%2Ekeep", b"aw=="),
                ("LIBARCHIVE.xattr.user.%zz", b"eg=="),
            ])
            .file("bin/ping", 0o755, b"elf")
    };
    let dir_ = tempfile::tempdir().unwrap();
    let path = dir_.path().join("layer.tar");
    std::fs::write(&path, layer().0.into_inner().unwrap()).unwrap();
    let mut out = Vec::new();
    let options = RootfsOptions {
        strip_privileges: true,
    };
    write_with(&[path], options, &mut out).unwrap();
    assert_eq!(
        pax_keys(&out, "bin/ping"),
        ["LIBARCHIVE.xattr.user%2Ekeep", "LIBARCHIVE.xattr.user.%zz"]
    );
    // Without the option, all of it stays.
    let (result, out) = rootfs(vec![layer()]);
    result.unwrap();
    assert_eq!(pax_keys(&out, "bin/ping").len(), 5);
}

#[test]
fn one_xattr_under_two_spellings_must_have_one_value() {
    let conflicts: [&[(&str, &[u8])]; 3] = [
        &[
            ("SCHILY.xattr.user.a", b"1"),
            ("LIBARCHIVE.xattr.user.a", b"Mg=="),
        ],
        &[
            ("SCHILY.xattr.user.a", b"1"),
            ("LIBARCHIVE.xattr.user.a", b"2"),
        ],
        &[
            ("LIBARCHIVE.xattr.user.a", b"MQ=="),
            ("LIBARCHIVE.xattr.user%2Ea", b"Mg=="),
        ],
    ];
    for records in conflicts {
        // In one PAX header, and in two before the same entry.
        let one = Layer::new().pax(records).file("f", 0o644, b"f");
        let two = Layer::new()
            .pax(&records[..1])
            .pax(&records[1..])
            .file("f", 0o644, b"f");
        for layer in [one, two] {
            let msg = refusal(vec![layer]);
            assert!(
                msg.contains("two different values for extended attribute \"user.a\""),
                "{records:?}: {msg}"
            );
        }
    }
    // libarchive writes every attribute both ways, the LIBARCHIVE value in base64.
    let agreeing = Layer::new()
        .pax(&[
            ("SCHILY.xattr.user.a", b"1".as_slice()),
            ("LIBARCHIVE.xattr.user.a", b"MQ=="),
            ("LIBARCHIVE.xattr.user%2Ea", b"MQ"),
        ])
        .file("f", 0o644, b"f");
    let (result, out) = rootfs(vec![agreeing]);
    result.unwrap();
    assert_eq!(pax_keys(&out, "f").len(), 3);
}

#[test]
fn pax_headers_before_one_entry_are_capped_in_total() {
    let big = vec![b'v'; 900 << 10];
    let a = [("SCHILY.xattr.user.a", big.as_slice())];
    let b = [("SCHILY.xattr.user.b", big.as_slice())];
    // Each header is under the limit of 1 MiB; both before one entry are not.
    let msg = refusal(vec![Layer::new().pax(&a).pax(&b).file("f", 0o644, b"f")]);
    assert!(
        msg.contains("for one entry total over the limit of 1048576 bytes"),
        "{msg}"
    );
    // A GNU long name counts too (no ustar prefix can hold a 200-byte component).
    let long = format!("{}/f", "d".repeat(200));
    let nearly = vec![b'v'; (1 << 20) - 64];
    let nearly = [("SCHILY.xattr.user.a", nearly.as_slice())];
    let msg = refusal(vec![Layer::new().pax(&nearly).file(&long, 0o644, b"f")]);
    assert!(msg.contains("for one entry total over the limit"), "{msg}");
    // The count starts again at each entry.
    let (items, _) = merged(vec![Layer::new()
        .pax(&a)
        .file("f", 0o644, b"f")
        .pax(&b)
        .file("g", 0o644, b"g")]);
    assert_eq!(items.len(), 2);
}

/// Scans `layer` into a tree with the given limits, as pass one does.
fn scan_with_limits(
    layer: Layer,
    nodes: usize,
    pending_bytes: usize,
) -> std::result::Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.tar");
    std::fs::write(&path, layer.0.into_inner().unwrap()).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    let mut reader = reader::LayerReader::new(file, len);
    let mut tree = tree::Tree::with_limits(nodes, pending_bytes);
    let mut scanned = tree::Scanned::default();
    while let Some(entry) = reader.next_entry().unwrap() {
        tree.scan(0, entry, &mut scanned)?;
    }
    Ok(())
}

#[test]
fn whiteouts_count_against_the_entry_limit() {
    let layer = || {
        Layer::new()
            .whiteout(".wh.a")
            .whiteout("d/.wh.b")
            .whiteout("d/.wh..wh..opq")
            .whiteout(".wh.c")
    };
    scan_with_limits(layer(), 4, tree::MAX_PENDING_BYTES).unwrap();
    let err = scan_with_limits(layer(), 3, tree::MAX_PENDING_BYTES).unwrap_err();
    assert!(
        err.contains("more than 3 entries, whiteouts and directories"),
        "{err}"
    );
}

#[test]
fn paths_a_layer_holds_while_read_are_capped() {
    // Deep paths of 4,000 bytes: 20 of them, entries or whiteouts, are over 64 KiB.
    let deep = |i: usize| format!("{}{i:03}", "d/".repeat(1998));
    let files = |n: usize| (0..n).fold(Layer::new(), |l, i| l.file(&deep(i), 0o644, b""));
    let whiteouts = |n: usize| {
        (0..n).fold(Layer::new(), |l, i| {
            l.whiteout(&format!("{}/.wh.x", deep(i)))
        })
    };
    for (what, layer) in [("files", files(20)), ("whiteouts", whiteouts(20))] {
        let err = scan_with_limits(layer, tree::MAX_NODES, 64 << 10).unwrap_err();
        assert!(
            err.contains("the layer's paths and whiteouts take more than 65536 bytes"),
            "{what}: {err}"
        );
    }
    scan_with_limits(files(10), tree::MAX_NODES, 64 << 10).unwrap();
    scan_with_limits(whiteouts(10), tree::MAX_NODES, 64 << 10).unwrap();
}

#[test]
fn output_path_through_a_symlink_is_capped_at_path_max() {
    // 20 components of 200 bytes: 4019 bytes, a valid target.
    let target = vec!["t".repeat(200); 20].join("/");
    let lower = Layer::new().symlink("l", &target);
    // A short name in the layer, 4275 bytes once the symlink is followed.
    let name = format!("l/{}", "n".repeat(255));
    let msg = refusal(vec![lower, Layer::new().file(&name, 0o644, b"x")]);
    assert!(
        msg.contains("path of 4275 bytes through symlinks is too long"),
        "{msg}"
    );
    // Just under the limit is fine: 4020 + 75 = 4095 bytes.
    let lower = Layer::new().symlink("l", &target);
    let name = format!("l/{}", "n".repeat(75));
    let (items, _) = merged(vec![lower, Layer::new().file(&name, 0o644, b"x")]);
    assert_eq!(items.last().unwrap().path.len(), 4095);
}

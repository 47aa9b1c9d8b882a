//! How layers merge: whiteouts, opaque directories, links, symlinked parents, escapes.

use super::*;

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
    use rand::{RngCore, SeedableRng};
    let mut big = vec![0u8; 5 * 1024 * 1024 + 7];
    rand::rngs::StdRng::seed_from_u64(0x2545_f491_4f6c_dd1d).fill_bytes(&mut big);
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

#[test]
fn big_files_go_through_the_sinks_own_copy_between_buffered_small_entries() {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (items, stats) = merged(vec![Layer::new()
        .file("a", 0o644, b"small before")
        .file("b", 0o644, &big)
        .file("c", 0o644, b"small after")]);
    let data = |p: &str| &items.iter().find(|i| i.path == p).unwrap().data;
    assert_eq!(data("a"), b"small before");
    assert_eq!(data("b"), &big);
    assert_eq!(data("c"), b"small after");
    assert_eq!(stats.bytes, 12 + 300_000 + 11);
}

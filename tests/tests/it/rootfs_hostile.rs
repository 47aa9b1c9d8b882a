//! `--format rootfs` against hostile layers: the output must read the same in GNU tar,
//! busybox tar and Python's `tarfile`, and extracting it with any of them must write nothing
//! outside the target directory. Oversized metadata must fail fast in little memory, and
//! images with many layers must not need many open files.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use drag_tests::archive::assert_left_nothing;
use drag_tests::drag_cli::{drag_after, fresh_dir, pull, DEFAULT_RUN_TIMEOUT};
use drag_tests::image::{RawHeader, RawTar};
use drag_tests::peak_memory::{drag_under_time, run_measured, Measured};
use drag_tests::tar_readers::{tar_readers, TarReader};
use drag_tests::tools::stdout_of;
use drag_tests::{require_tool, run, Blob, Compression, FakeRegistry, ImageBuilder, Layer};

fn layer(tar: RawTar) -> Layer {
    Layer::from_tar(tar.finish(), Compression::Gzip)
}

/// A path component long enough to need a long-name record, short enough for NAME_MAX.
fn long_component() -> String {
    "a".repeat(230)
}

fn long_file() -> String {
    format!("long/{}/file", long_component())
}

fn long_target() -> String {
    format!("/{}", "t".repeat(200))
}

/// A name no other run uses, for files that must not appear outside the extraction root.
fn unique_marker() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("drag-rootfs-marker-{}-{nanos}", std::process::id())
}

/// How many directories `..` climbs in [`hostile_but_readable_image`]'s `up` symlink.
const UP_LEVELS: usize = 7;

/// Every trick the layers below play is one that made an earlier drag write a rootfs that
/// readers disagreed on, or that extracted outside its directory. Files that would land
/// outside if drag wrote their names as the layer spelled them are named after `marker`.
fn hostile_but_readable_image(marker: &str) -> drag_tests::Image {
    let first = RawTar::new()
        .entry(RawHeader::ustar("etc/", b'5').mode(0o755), "")
        .file("etc/passwd", "root:x:0:0:first\n")
        // `ustar\0` with version `\0\0`: the tar crate ignores the prefix, everyone else
        // (and drag now) applies it.
        .entry(
            RawHeader::ustar("group", b'0')
                .poke(263, b"\0\0")
                .prefix("etc"),
            "root:x:0:\n",
        )
        // GNU times (real ones, octal) where a ustar prefix would be: Python reads them as
        // one if the header is copied.
        .entry(
            RawHeader::gnu("gnu-file", b'0')
                .poke(345, b"14524261400\0")
                .poke(357, b"14524261401\0"),
            "gnu\n",
        )
        .entry(RawHeader::ustar("rootlink", b'2').link("/").mode(0o777), "")
        .entry(
            RawHeader::ustar("up", b'2')
                .link([".."; UP_LEVELS].join("/"))
                .mode(0o777),
            "",
        )
        // The same path twice, saying the same thing, plus records drag drops.
        .pax(&[
            ("path", b"pax-file"),
            ("path", b"pax-file"),
            ("comment", b"dropped"),
            ("SCHILY.dev", b"99"),
            ("mtime", b"1700000000.5"),
            ("SCHILY.xattr.user.kept", b"yes"),
        ])
        .file("placeholder", "pax\n")
        .gnu_long_name(long_file())
        .entry(RawHeader::gnu(long_file(), b'0'), "long\n")
        .gnu_long_link(long_target())
        .entry(
            RawHeader::gnu("long-link", b'2')
                .link(long_target())
                .mode(0o777),
            "",
        )
        .gnu_long_link(long_file())
        .entry(RawHeader::gnu("long-hard", b'1').link(long_file()), "");
    let second = RawTar::new()
        // A second etc/passwd, spelled through the prefix: the one etc/passwd is this one.
        .entry(
            RawHeader::ustar("passwd", b'0')
                .poke(263, b"\0\0")
                .prefix("etc"),
            "root:x:0:0:second\n",
        )
        // Through `rootlink -> /`: lands at tmp/MARKER inside the root, not in /tmp.
        .file(format!("rootlink/tmp/{marker}"), "inside\n")
        // Through `up -> ../../..`: lands at MARKER-up in the root, not UP_LEVELS above it.
        .file(format!("up/{marker}-up"), "up\n");
    ImageBuilder::new()
        .layer(layer(first))
        .layer(layer(second))
        .build()
}

fn expected_names(marker: &str) -> BTreeSet<String> {
    let long_dir = format!("long/{}", long_component());
    let escape = format!("tmp/{marker}");
    let up = format!("{marker}-up");
    [
        "etc",
        "etc/group",
        "etc/passwd",
        "gnu-file",
        "long",
        &long_dir,
        &long_file(),
        "long-hard",
        "long-link",
        "pax-file",
        "rootlink",
        "tmp",
        &escape,
        "up",
        &up,
    ]
    .into_iter()
    .map(str::to_string)
    .collect()
}

/// Every path under `dir`, relative, not following symlinks.
fn walk(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("dir entry");
            let path = e.path();
            out.insert(
                path.strip_prefix(dir)
                    .expect("under dir")
                    .to_string_lossy()
                    .into_owned(),
            );
            if e.file_type().expect("file type").is_dir() {
                pending.push(path);
            }
        }
    }
    out
}

/// Directories between the sandbox and the extraction root: more than any `..` in the
/// fixtures climbs, so whatever a `..` would put outside the root still lands in the sandbox,
/// where [`walk`] sees it.
const SANDBOX_DEPTH: usize = 9;

/// Extracts with `reader` into `sandbox/d1/.../d9/root` and checks nothing landed beside it,
/// nor at `/tmp/MARKER`, where following `rootlink -> /` would write.
fn extract_inside(reader: &TarReader, archive: &Path, marker: &str) -> PathBuf {
    const { assert!(SANDBOX_DEPTH > UP_LEVELS) };
    let sandbox = fresh_dir("rootfs-sandbox-");
    let chain: Vec<String> = (1..=SANDBOX_DEPTH)
        .map(|depth| {
            (1..=depth)
                .map(|d| format!("d{d}"))
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    let root_rel = format!("{}/root", chain[SANDBOX_DEPTH - 1]);
    let root = sandbox.join(&root_rel);
    std::fs::create_dir_all(&root).expect("create root");
    reader.extract(archive, &root);
    let outside: BTreeSet<String> = walk(&sandbox)
        .into_iter()
        .filter(|p| !p.starts_with(&format!("{root_rel}/")) && *p != root_rel)
        .collect();
    let expected: BTreeSet<String> = chain.into_iter().collect();
    assert_eq!(
        outside, expected,
        "{} wrote outside its target",
        reader.name
    );
    for escaped in [Path::new("/tmp").join(marker), Path::new("/").join(marker)] {
        assert!(
            std::fs::symlink_metadata(&escaped).is_err(),
            "{} wrote {}",
            reader.name,
            escaped.display()
        );
    }
    root
}

/// Every header drag wrote is plain ustar: version `00`, no prefix, nothing in the GNU time
/// bytes, and PAX headers named and holding only allow-listed records.
fn assert_fresh_headers(archive: &[u8]) {
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().expect("entries").raw(true) {
        let mut entry = entry.expect("entry");
        let bytes = entry.header().as_bytes().to_vec();
        assert_eq!(&bytes[257..265], b"ustar\x0000", "{:?}", &bytes[..100]);
        assert!(bytes[345..500].iter().all(|&b| b == 0), "prefix bytes set");
        if bytes[156] == b'x' {
            assert!(bytes.starts_with(b"./PaxHeaders/"), "{:?}", &bytes[..100]);
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("pax data");
            let text = String::from_utf8_lossy(&data).into_owned();
            for record in text.lines() {
                let key = record
                    .split_once(' ')
                    .and_then(|(_, kv)| kv.split_once('='))
                    .map(|(k, _)| k)
                    .unwrap_or_else(|| panic!("malformed record {record:?}"));
                let allowed = ["path", "linkpath", "mtime", "atime", "ctime", "uid", "gid"]
                    .contains(&key)
                    || key.starts_with("SCHILY.xattr.")
                    || key.starts_with("LIBARCHIVE.xattr.");
                assert!(allowed, "record {key} passed through");
            }
        }
    }
}

#[test]
fn rootfs_of_hostile_layers_reads_the_same_everywhere_and_extracts_inside() {
    let marker = unique_marker();
    let registry = FakeRegistry::start();
    registry.push_image("hostile", "1", &hostile_but_readable_image(&marker));
    let dir = fresh_dir("rootfs-hostile-");
    let reference = format!("{}/hostile:1", registry.host());
    pull(
        &dir,
        &["-q", "--format", "rootfs", "-o", "out.tar", &reference],
    )
    .assert_success();
    let archive = dir.join("out.tar");
    let bytes = std::fs::read(&archive).expect("read out.tar");
    assert_fresh_headers(&bytes);

    let Some(readers) = tar_readers() else {
        return;
    };
    let first = readers[0].list(&archive);
    assert_eq!(
        first.iter().cloned().collect::<BTreeSet<_>>(),
        expected_names(&marker)
    );
    assert_eq!(
        first.len(),
        expected_names(&marker).len(),
        "a name twice: {first:?}"
    );
    for reader in &readers[1..] {
        assert_eq!(reader.list(&archive), first, "{} disagrees", reader.name);
    }
    let verbose = stdout_of(&mut readers[0].command(vec!["-tvf".into(), archive.clone().into()]));
    assert!(
        verbose.lines().any(|l| l.ends_with(" rootlink -> /")),
        "{verbose}"
    );

    for reader in &readers {
        let root = extract_inside(reader, &archive, &marker);
        let read = |p: &str| {
            std::fs::read_to_string(root.join(p))
                .unwrap_or_else(|e| panic!("{}: {p}: {e}", reader.name))
        };
        assert_eq!(read("etc/passwd"), "root:x:0:0:second\n", "{}", reader.name);
        assert_eq!(read("etc/group"), "root:x:0:\n");
        assert_eq!(read("gnu-file"), "gnu\n");
        assert_eq!(read("pax-file"), "pax\n");
        assert_eq!(read(&format!("tmp/{marker}")), "inside\n");
        assert_eq!(read(&format!("{marker}-up")), "up\n");
        assert_eq!(read(&long_file()), "long\n");
        assert_eq!(
            std::fs::read_link(root.join("rootlink")).expect("rootlink"),
            PathBuf::from("/")
        );
        assert_eq!(
            std::fs::read_link(root.join("long-link")).expect("long-link"),
            PathBuf::from(long_target())
        );
        let ino = |p: &str| std::fs::symlink_metadata(root.join(p)).expect(p).ino();
        assert_eq!(ino("long-hard"), ino(&long_file()), "{}", reader.name);
    }
}

/// A layer whose one entry is preceded by `records` in a PAX header.
fn refused_cases() -> Vec<(&'static str, RawTar, &'static str)> {
    vec![
        (
            "duplicate-pax-path",
            RawTar::new()
                .pax(&[("path", b"etc/passwd"), ("path", b"etc/shadow")])
                .file("x", "x"),
            "two different \"path\" records",
        ),
        (
            "pax-path-against-gnu-long-name",
            RawTar::new()
                .pax(&[("path", b"etc/passwd")])
                .gnu_long_name(long_file())
                .file("x", "x"),
            "two different",
        ),
        (
            "gnu-sparse-name",
            RawTar::new()
                .pax(&[
                    ("GNU.sparse.name", b"../../etc/passwd"),
                    ("GNU.sparse.major", b"1"),
                    ("GNU.sparse.minor", b"0"),
                ])
                .file("GNUSparseFile.0/x", "x"),
            "GNU sparse entries are not supported",
        ),
        (
            // Go (so containerd) reads these times as the prefix `../../../../tmp/pwned00`.
            "gnu-times-not-numbers",
            RawTar::new().entry(
                RawHeader::gnu("gnu-file", b'0')
                    .poke(345, b"../../../../")
                    .poke(357, b"tmp/pwned00\0"),
                "x",
            ),
            "ambiguous GNU header",
        ),
        (
            "old-gnu-sparse",
            RawTar::new().entry(RawHeader::gnu("sparse", b'S'), "x"),
            "GNU sparse entries are not supported",
        ),
    ]
}

#[test]
fn rootfs_refuses_ambiguous_names_and_sparse_entries_before_writing() {
    let registry = FakeRegistry::start();
    for (repo, tar, reason) in refused_cases() {
        let image = ImageBuilder::new()
            .layer(layer(RawTar::new().file("fine", "fine")))
            .layer(layer(tar))
            .build();
        registry.push_image(repo, "1", &image);
        let dir = fresh_dir("rootfs-refused-");
        let reference = format!("{}/{repo}:1", registry.host());
        let out = pull(
            &dir,
            &["-q", "--format", "rootfs", "-o", "out.tar", &reference],
        );
        assert_eq!(out.status.code(), Some(1), "{repo}: {}", out.stderr);
        let last = out.stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("drag: error: ")
                && last.contains("layer 2 of 2")
                && last.contains(reason),
            "{repo}: {last}"
        );
        assert_left_nothing(&dir);
    }
}

/// `len` bytes of `byte`, gzipped in one pass without holding them, with the sha256 of the
/// uncompressed stream.
fn huge_long_name_layer(len: u64) -> Layer {
    use sha2::Digest;
    let header = RawHeader::gnu("././@LongLink", b'L').size(len).bytes(len);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut sha = sha2::Sha256::new();
    let mut write = |bytes: &[u8]| {
        gz.write_all(bytes).expect("gzip");
        sha.update(bytes);
    };
    write(&header);
    let chunk = vec![b'n'; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        write(&chunk[..n]);
        left -= n as u64;
    }
    let tail = RawTar::new().file("after", "x").finish();
    let pad = (512 - len % 512) % 512;
    write(&vec![0; pad as usize]);
    write(&tail);
    let hex: String = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let diff_id = format!("sha256:{hex}");
    let blob = Blob::new(
        gz.finish().expect("gzip"),
        "application/vnd.oci.image.layer.v1.tar+gzip",
    );
    Layer {
        blob,
        diff_id,
        uncompressed: Vec::new(),
        compression: Some(Compression::Gzip),
    }
}

#[test]
fn rootfs_huge_gnu_long_name_fails_fast_in_little_memory() {
    let Some(time) = require_tool("time") else {
        return;
    };
    const LEN: u64 = 1536 << 20;
    let registry = FakeRegistry::start();
    let image = ImageBuilder::new().layer(huge_long_name_layer(LEN)).build();
    assert!(
        image.layers[0].blob.size() < 16 << 20,
        "the layer stays small"
    );
    registry.push_image("longname", "1", &image);
    let dir = fresh_dir("rootfs-longname-");
    let reference = format!("{}/longname:1", registry.host());
    let mut command = drag_under_time(&time);
    command.current_dir(&dir).args([
        "pull",
        "-q",
        "--no-cache",
        "--format",
        "rootfs",
        "-o",
        "out.tar",
        &reference,
    ]);
    let Measured { out, peak_rss } = run_measured(&mut command, DEFAULT_RUN_TIMEOUT);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("GNU long name of 1610612736 bytes is over the limit"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.len() < 1000,
        "stderr is {} bytes",
        out.stderr.len()
    );
    assert!(peak_rss < 200 << 20, "peak RSS {} MiB", peak_rss >> 20);
    assert_left_nothing(&dir);
}

#[test]
fn rootfs_of_300_layers_works_under_a_low_open_file_limit() {
    let mut builder = ImageBuilder::new();
    for i in 0..300 {
        builder = builder.layer(layer(
            RawTar::new()
                .file(format!("f{i:03}"), format!("{i}"))
                .file("top", format!("layer {i}")),
        ));
    }
    let registry = FakeRegistry::start();
    registry.push_image("many", "1", &builder.build());
    let dir = fresh_dir("rootfs-many-");
    let reference = format!("{}/many:1", registry.host());
    let mut command = drag_after("ulimit -n 64");
    command.args([
        "pull", "-q", "--format", "rootfs", "-o", "out.tar", &reference,
    ]);
    run(command.current_dir(&dir)).assert_success();
    let entries = drag_tests::archive::read_tar(&dir.join("out.tar"));
    assert_eq!(entries.len(), 301);
    assert_eq!(entries["top"].data, b"layer 299");
    assert_eq!(entries["f000"].data, b"0");
    assert_eq!(entries["f299"].data, b"299");
}

#[test]
fn rootfs_strip_privileges_drops_devices_setid_bits_and_capabilities() {
    let image = ImageBuilder::new()
        .layer(
            drag_tests::LayerBuilder::new()
                .dir("dev", 0o755)
                .char_device("dev/null", 1, 3)
                .fifo("dev/fifo")
                .dir("bin", 0o755)
                .file("bin/su", "su", 0o4755)
                .file("bin/newgrp", "newgrp", 0o2755)
                .dir("srv", 0o2775)
                .build(Compression::Gzip),
        )
        .layer(layer(
            RawTar::new()
                .pax(&[
                    ("SCHILY.xattr.security.capability", b"\x01\x00\x00\x02"),
                    // libarchive decodes this name to `trusted.overlay.opaque`.
                    ("LIBARCHIVE.xattr.%74rusted.overlay.opaque", b"eQ=="),
                    ("SCHILY.xattr.user.note", b"kept"),
                ])
                .entry(RawHeader::ustar("bin/ping", b'0').mode(0o755), "ping"),
        ))
        .build();
    let registry = FakeRegistry::start();
    registry.push_image("priv", "1", &image);
    let dir = fresh_dir("rootfs-strip-");
    let reference = format!("{}/priv:1", registry.host());
    let args = |extra: &[&'static str]| {
        let mut a = vec!["-q", "--format", "rootfs", "-o", "out.tar"];
        a.extend_from_slice(extra);
        a
    };

    let mut strip = args(&["--strip-privileges"]);
    strip.push(&reference);
    pull(&dir, &strip).assert_success();
    let bytes = std::fs::read(dir.join("out.tar")).expect("read out.tar");
    let entries = drag_tests::archive::read_tar_bytes(&bytes);
    assert!(!entries.contains_key("dev/null"), "{:?}", entries.keys());
    assert_eq!(entries["dev/fifo"].kind, tar::EntryType::Fifo);
    assert_eq!(entries["bin/su"].mode, 0o755);
    assert_eq!(entries["bin/newgrp"].mode, 0o755);
    assert_eq!(entries["srv/"].mode, 0o2775, "directories keep setgid");
    assert_eq!(xattrs(&bytes, "bin/ping"), ["SCHILY.xattr.user.note"]);

    let mut keep = args(&[]);
    keep.push(&reference);
    pull(&dir, &keep).assert_success();
    let bytes = std::fs::read(dir.join("out.tar")).expect("read out.tar");
    let entries = drag_tests::archive::read_tar_bytes(&bytes);
    assert_eq!(entries["dev/null"].kind, tar::EntryType::Char);
    assert_eq!(entries["bin/su"].mode, 0o4755);
    assert_eq!(
        xattrs(&bytes, "bin/ping"),
        [
            "SCHILY.xattr.security.capability",
            "LIBARCHIVE.xattr.%74rusted.overlay.opaque",
            "SCHILY.xattr.user.note"
        ]
    );

    let out = pull(&dir, &["--strip-privileges", "-o", "x.tar", &reference]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--strip-privileges applies to --format rootfs only"),
        "{}",
        out.stderr
    );
}

/// The PAX record keys of entry `path` in a tar.
fn xattrs(archive: &[u8], path: &str) -> Vec<String> {
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        if entry.path_bytes().as_ref() == path.as_bytes() {
            return match entry.pax_extensions().expect("pax") {
                Some(records) => records
                    .map(|r| r.expect("record").key().expect("key").to_owned())
                    .collect(),
                None => Vec::new(),
            };
        }
    }
    panic!("{path} not in the archive");
}

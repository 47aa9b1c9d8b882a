//! The three output formats as their consumers read them: OCI layouts for skopeo and umoci,
//! rootfs tars for tar (and chroot), multi-image docker archives and zstd layers for podman.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use drag_tests::archive::{
    assert_left_nothing, blob_path, dir_names, entry_names, json_entry, read_tar, read_tar_bytes,
    Entry,
};
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::image::media_types;
use drag_tests::layout::{assert_layout_holds_image, read_blob, read_json};
use drag_tests::tools::{skip, tool};
use drag_tests::{
    attestation_for, require_tool, Compression, FakeRegistry, Image, ImageBuilder, IndexBuilder,
    Layer, LayerBuilder, ManifestFormat, Podman, RealRegistry,
};

fn base_layer() -> Layer {
    LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/os-release", "ID=drag-test\n", 0o644)
        .build(Compression::Gzip)
}

/// An OCI image (skopeo and umoci read only OCI-typed manifests) on the shared base layer.
fn oci_image(arch: &str, marker: &str) -> Image {
    app_image(ManifestFormat::Oci, arch, marker)
}

/// An image of `format` on the shared base layer, with `marker` in `/app/marker`.
fn app_image(format: ManifestFormat, arch: &str, marker: &str) -> Image {
    ImageBuilder::new()
        .format(format)
        .arch(arch)
        .layer(base_layer())
        .layer(
            LayerBuilder::new()
                .dir("app", 0o755)
                .file("app/marker", marker, 0o644)
                .build(Compression::Gzip),
        )
        .cmd(&["/app/marker"])
        .build()
}

/// `blobs/sha256/*` of a layout, as digests.
fn layout_blobs(layout: &Path) -> BTreeSet<String> {
    dir_names(&layout.join("blobs/sha256"))
        .into_iter()
        .map(|hex| format!("sha256:{hex}"))
        .collect()
}

/// The `index.json` entry whose ref.name annotation is `tag`.
fn index_entry(layout: &Path, tag: &str) -> serde_json::Value {
    let index = read_json(&layout.join("index.json"));
    index["manifests"]
        .as_array()
        .and_then(|entries| {
            entries
                .iter()
                .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == tag)
        })
        .cloned()
        .unwrap_or_else(|| panic!("no entry for {tag} in {index}"))
}

#[test]
fn oci_layout_keeps_digests_and_is_read_by_skopeo_and_umoci() {
    let registry = FakeRegistry::start();
    let image = oci_image("amd64", "hello from the layout\n");
    registry.push_image("app", "1", &image);
    let dir = fresh_dir("oci-layout-");
    let reference = format!("{}/app:1", registry.host());
    pull(&dir, &["--format", "oci", &reference]).assert_success();

    let layout = dir.join("app_1");
    assert_eq!(
        read_json(&layout.join("oci-layout"))["imageLayoutVersion"],
        "1.0.0"
    );
    let index = read_json(&layout.join("index.json"));
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["manifests"].as_array().map(Vec::len), Some(1));
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], image.digest());
    assert_eq!(entry["mediaType"], media_types::OCI_MANIFEST);
    assert_eq!(entry["size"], image.manifest.size());
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "1"
    );
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        reference.as_str()
    );
    assert_layout_holds_image(&layout, &image);
    let mut expected: BTreeSet<String> =
        image.layers.iter().map(|l| l.blob.digest.clone()).collect();
    expected.insert(image.config.digest.clone());
    expected.insert(image.digest().to_string());
    assert_eq!(layout_blobs(&layout), expected);

    let layout_arg = layout.display().to_string();
    if let Some(skopeo) = require_tool("skopeo") {
        let info: serde_json::Value =
            serde_json::from_str(&tool(&skopeo, &["inspect", &format!("oci:{layout_arg}:1")]))
                .expect("skopeo prints JSON");
        assert_eq!(info["Digest"], image.digest());
        assert_eq!(info["Architecture"], "amd64");
        let layers: Vec<&str> = image
            .layers
            .iter()
            .map(|l| l.blob.digest.as_str())
            .collect();
        assert_eq!(info["Layers"], serde_json::json!(layers));

        let archive = dir.join("copied.tar");
        tool(
            &skopeo,
            &[
                "--insecure-policy",
                "copy",
                &format!("oci:{layout_arg}:1"),
                &format!("docker-archive:{}:app:1", archive.display()),
            ],
        );
        let copied = read_tar(&archive);
        assert_eq!(
            json_entry(&copied, "manifest.json")[0]["RepoTags"],
            serde_json::json!(["docker.io/library/app:1"]),
            "skopeo names the copy as it normalizes app:1"
        );
        let config = json_entry(&copied, "manifest.json")[0]["Config"].clone();
        let config_hex = image.config.digest.trim_start_matches("sha256:");
        assert!(
            config.as_str().is_some_and(|c| c.contains(config_hex)),
            "skopeo copied another config: {config}"
        );
    }
    if let Some(umoci) = require_tool("umoci") {
        let bundle = dir.join("bundle");
        tool(
            &umoci,
            &[
                "unpack",
                "--rootless",
                "--image",
                &format!("{layout_arg}:1"),
                &bundle.display().to_string(),
            ],
        );
        assert_eq!(
            std::fs::read_to_string(bundle.join("rootfs/app/marker")).expect("unpacked marker"),
            "hello from the layout\n"
        );
        assert_eq!(
            std::fs::read_to_string(bundle.join("rootfs/etc/os-release")).expect("unpacked base"),
            "ID=drag-test\n"
        );
    }
}

#[test]
fn second_image_joins_an_existing_layout_reusing_its_blobs() {
    let registry = FakeRegistry::start();
    let app = oci_image("amd64", "app");
    let tools = oci_image("amd64", "tools");
    registry.push_image("app", "1", &app);
    registry.push_image("tools", "2", &tools);
    let dir = fresh_dir("oci-add-");
    let host = registry.host();
    let app_ref = format!("{host}/app:1");
    let tools_ref = format!("{host}/tools:2");

    pull(&dir, &["--format", "oci", "-o", "layout", &app_ref]).assert_success();
    let layout = dir.join("layout");
    let shared = layout.join(blob_path(&app.layers[0].blob.digest));
    let before = std::fs::metadata(&shared).expect("shared base layer in the layout");

    pull(&dir, &["--format", "oci", "-o", "layout", &tools_ref]).assert_success();
    let index = read_json(&layout.join("index.json"));
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(2),
        "{index}"
    );
    assert_eq!(index_entry(&layout, "1")["digest"], app.digest());
    assert_eq!(index_entry(&layout, "2")["digest"], tools.digest());
    assert_layout_holds_image(&layout, &app);
    assert_layout_holds_image(&layout, &tools);
    // Base layer once, two own layers, two configs, two manifests.
    assert_eq!(
        layout_blobs(&layout).len(),
        7,
        "{:?}",
        layout_blobs(&layout)
    );
    let after = std::fs::metadata(&shared).expect("shared base layer still there");
    assert_eq!(
        (before.ino(), before.mtime(), before.mtime_nsec()),
        (after.ino(), after.mtime(), after.mtime_nsec()),
        "the shared blob was written again"
    );

    // A new image under an existing name replaces that entry instead of adding one.
    let app_v2 = oci_image("amd64", "app, second build");
    registry.push_image("app", "1", &app_v2);
    pull(&dir, &["--format", "oci", "-o", "layout", &app_ref]).assert_success();
    let index = read_json(&layout.join("index.json"));
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(2),
        "{index}"
    );
    assert_eq!(index_entry(&layout, "1")["digest"], app_v2.digest());
    assert_eq!(index_entry(&layout, "2")["digest"], tools.digest());
    assert_layout_holds_image(&layout, &app_v2);

    if let Some(skopeo) = require_tool("skopeo") {
        for (tag, image) in [("1", &app_v2), ("2", &tools)] {
            let info: serde_json::Value = serde_json::from_str(&tool(
                &skopeo,
                &["inspect", &format!("oci:{}:{tag}", layout.display())],
            ))
            .expect("skopeo prints JSON");
            assert_eq!(info["Digest"], image.digest(), "{tag}");
        }
    }
}

#[test]
fn all_platforms_keeps_the_index_and_every_image_it_names() {
    let registry = FakeRegistry::start();
    let amd = oci_image("amd64", "amd");
    let arm = ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .arch("arm64")
        .variant("v8")
        .layer(base_layer())
        .layer(
            LayerBuilder::new()
                .file("arm", "arm", 0o644)
                .build(Compression::Zstd),
        )
        .build();
    let att = attestation_for(&amd);
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .image(&amd)
        .image(&arm)
        .attestation(&att, &amd)
        .build();
    registry.push_index("app", "1", &index, &[&amd, &arm, &att]);
    let dir = fresh_dir("all-platforms-");
    let reference = format!("{}/app:1", registry.host());
    pull(
        &dir,
        &[
            "--format",
            "oci",
            "--all-platforms",
            "-o",
            "layout",
            &reference,
        ],
    )
    .assert_success();

    let layout = dir.join("layout");
    let entries = read_json(&layout.join("index.json"))["manifests"].clone();
    assert_eq!(entries.as_array().map(Vec::len), Some(1), "{entries}");
    assert_eq!(entries[0]["digest"], index.digest.as_str());
    assert_eq!(entries[0]["mediaType"], media_types::OCI_INDEX);
    assert_eq!(entries[0]["size"], index.size());
    assert_eq!(
        entries[0]["annotations"]["org.opencontainers.image.ref.name"],
        "1"
    );
    assert_eq!(read_blob(&layout, &index.digest), index.bytes.to_vec());
    let mut expected = BTreeSet::from([index.digest.clone()]);
    for image in [&amd, &arm, &att] {
        assert_layout_holds_image(&layout, image);
        expected.insert(image.digest().to_string());
        expected.insert(image.config.digest.clone());
        expected.extend(image.layers.iter().map(|l| l.blob.digest.clone()));
    }
    assert_eq!(layout_blobs(&layout), expected);

    if let Some(skopeo) = require_tool("skopeo") {
        let raw = tool(
            &skopeo,
            &["inspect", "--raw", &format!("oci:{}:1", layout.display())],
        );
        assert_eq!(raw.as_bytes(), &index.bytes[..]);
        let info: serde_json::Value = serde_json::from_str(&tool(
            &skopeo,
            &[
                "--override-arch",
                "arm64",
                "--override-variant",
                "v8",
                "inspect",
                &format!("oci:{}:1", layout.display()),
            ],
        ))
        .expect("skopeo prints JSON");
        // skopeo's Digest is the index's; the layers tell which image it chose.
        assert_eq!(info["Architecture"], "arm64");
        let layers: Vec<&str> = arm.layers.iter().map(|l| l.blob.digest.as_str()).collect();
        assert_eq!(info["Layers"], serde_json::json!(layers));
    }
}

/// Three layers exercising every way a layer changes the tree below it.
fn rootfs_image() -> Image {
    let base = LayerBuilder::new()
        .dir("bin", 0o755)
        .file("bin/tool", "#!/bin/sh\necho tool\n", 0o755)
        .file("bin/su", "su", 0o4755)
        .dir("etc", 0o755)
        .file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644)
        .file("etc/old.conf", "old", 0o644)
        .dir("var", 0o755)
        .dir("var/cache", 0o755)
        .file("var/cache/a", "a", 0o644)
        .dir("var/cache/sub", 0o755)
        .file("var/cache/sub/b", "b", 0o644)
        .dir("opt", 0o755)
        .file("opt/keep", "keep", 0o644)
        .dir("opt/sub", 0o755)
        .file("opt/sub/deep", "deep", 0o644)
        .dir("home", 0o755)
        .uid(1000)
        .gid(1000)
        .dir("home/user", 0o700)
        .file("home/user/secret", "secret", 0o600)
        .build(Compression::Gzip);
    let second = LayerBuilder::new()
        .whiteout("etc/old.conf")
        .whiteout("var/cache")
        .opaque("opt")
        .file("opt/new", "new", 0o644)
        .symlink("bin/link", "tool")
        .hardlink("bin/tool-hard", "bin/tool")
        .file("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o600)
        .build(Compression::Zstd);
    let third = LayerBuilder::new()
        .dir("var/cache", 0o700)
        .file("var/cache/fresh", "fresh", 0o644)
        .file("etc/hostname", "drag\n", 0o644)
        .build(Compression::None);
    ImageBuilder::new()
        .layer(base)
        .layer(second)
        .layer(third)
        .build()
}

fn expected_rootfs() -> BTreeMap<String, Entry> {
    let entry = |kind, mode, owner: u64, link: Option<&str>, data: &str| Entry {
        kind,
        mode,
        uid: owner,
        gid: owner,
        link: link.map(str::to_string),
        data: data.as_bytes().to_vec(),
    };
    let dir = |mode, owner| entry(tar::EntryType::Directory, mode, owner, None, "");
    let file = |mode, owner, data| entry(tar::EntryType::Regular, mode, owner, None, data);
    BTreeMap::from([
        ("bin/".into(), dir(0o755, 0)),
        (
            "bin/link".into(),
            entry(tar::EntryType::Symlink, 0o777, 0, Some("tool"), ""),
        ),
        ("bin/su".into(), file(0o4755, 0, "su")),
        ("bin/tool".into(), file(0o755, 0, "#!/bin/sh\necho tool\n")),
        (
            "bin/tool-hard".into(),
            entry(tar::EntryType::Link, 0, 0, Some("bin/tool"), ""),
        ),
        ("etc/".into(), dir(0o755, 0)),
        ("etc/hostname".into(), file(0o644, 0, "drag\n")),
        (
            "etc/passwd".into(),
            file(0o600, 0, "root:x:0:0:root:/root:/bin/bash\n"),
        ),
        ("home/".into(), dir(0o755, 0)),
        ("home/user/".into(), dir(0o700, 1000)),
        ("home/user/secret".into(), file(0o600, 1000, "secret")),
        ("opt/".into(), dir(0o755, 0)),
        ("opt/new".into(), file(0o644, 0, "new")),
        ("var/".into(), dir(0o755, 0)),
        ("var/cache/".into(), dir(0o700, 0)),
        ("var/cache/fresh".into(), file(0o644, 0, "fresh")),
    ])
}

/// A rootfs listing with hard links' own modes zeroed: extraction ignores them.
fn comparable(mut entries: BTreeMap<String, Entry>) -> BTreeMap<String, Entry> {
    for e in entries.values_mut() {
        if e.kind == tar::EntryType::Link {
            e.mode = 0;
        }
    }
    entries
}

fn running_as_root() -> bool {
    std::fs::metadata(fresh_dir("whoami-")).is_ok_and(|m| m.uid() == 0)
}

#[test]
fn rootfs_applies_layers_with_whiteouts_links_modes_and_owners() {
    let registry = FakeRegistry::start();
    registry.push_image("app", "1", &rootfs_image());
    let dir = fresh_dir("rootfs-");
    let reference = format!("{}/app:1", registry.host());
    pull(
        &dir,
        &["--format", "rootfs", "-o", "rootfs.tar", &reference],
    )
    .assert_success();
    let archive = dir.join("rootfs.tar");
    assert_eq!(comparable(read_tar(&archive)), expected_rootfs());

    let streamed = pull(&dir, &["-q", "--format", "rootfs", "-o", "-", &reference]);
    streamed.assert_success();
    assert!(
        streamed.stdout == std::fs::read(&archive).expect("read rootfs.tar"),
        "-o - streams other bytes than the file"
    );
    assert_eq!(dir_names(&dir), vec!["rootfs.tar"]);

    let Some(tar) = require_tool("tar") else {
        return;
    };
    let archive_arg = archive.display().to_string();
    let listing = tool(&tar, &["--numeric-owner", "-tvf", &archive_arg]);
    let line = |path: &str| {
        listing
            .lines()
            .find(|l| l.split_whitespace().nth(5) == Some(path))
            .unwrap_or_else(|| panic!("{path} missing from tar -tv:\n{listing}"))
    };
    assert!(line("bin/link").ends_with("bin/link -> tool"), "{listing}");
    assert!(
        line("bin/tool-hard").ends_with("bin/tool-hard link to bin/tool"),
        "{listing}"
    );
    assert!(line("bin/su").starts_with("-rwsr-xr-x 0/0 "), "{listing}");
    assert!(
        line("home/user/").starts_with("drwx------ 1000/1000 "),
        "{listing}"
    );
    assert!(
        line("home/user/secret").starts_with("-rw------- 1000/1000 "),
        "{listing}"
    );
    assert!(!listing.contains(".wh."), "whiteouts leaked:\n{listing}");

    let root = dir.join("extracted");
    std::fs::create_dir(&root).expect("create extraction dir");
    tool(
        &tar,
        &[
            "--numeric-owner",
            "-xpf",
            &archive_arg,
            "-C",
            &root.display().to_string(),
        ],
    );
    let meta = |p: &str| std::fs::symlink_metadata(root.join(p));
    assert_eq!(
        std::fs::read_link(root.join("bin/link")).expect("bin/link is a symlink"),
        PathBuf::from("tool")
    );
    assert_eq!(
        meta("bin/tool").expect("bin/tool").ino(),
        meta("bin/tool-hard").expect("bin/tool-hard").ino(),
        "bin/tool-hard is a hard link to bin/tool"
    );
    for gone in [
        "etc/old.conf",
        "var/cache/a",
        "var/cache/sub",
        "opt/keep",
        "opt/sub",
    ] {
        assert!(meta(gone).is_err(), "{gone} should be gone");
    }
    assert_eq!(
        std::fs::read_to_string(root.join("var/cache/fresh")).expect("var/cache/fresh"),
        "fresh"
    );
    assert_eq!(meta("bin/su").expect("bin/su").mode() & 0o7777, 0o4755);
    if running_as_root() {
        let secret = meta("home/user/secret").expect("home/user/secret");
        assert_eq!((secret.uid(), secret.gid()), (1000, 1000));
    }
}

#[test]
fn rootfs_layer_escaping_the_root_fails_and_writes_nothing() {
    let registry = FakeRegistry::start();
    let image = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("fine", "fine", 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("../escape", "gotcha", 0o644)
                .build(Compression::Gzip),
        )
        .build();
    registry.push_image("app", "1", &image);
    let parent = fresh_dir("rootfs-escape-");
    let dir = parent.join("out");
    std::fs::create_dir(&dir).expect("create output dir");
    let reference = format!("{}/app:1", registry.host());

    let out = pull(
        &dir,
        &["--format", "rootfs", "-o", "rootfs.tar", &reference],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("drag: error: ") && last.contains("../escape"),
        "{last}"
    );
    assert_left_nothing(&dir);
    assert!(!parent.join("escape").exists());

    let streamed = pull(&dir, &["--format", "rootfs", "-o", "-", &reference]);
    assert_eq!(streamed.status.code(), Some(1), "{}", streamed.stderr);
    assert!(
        streamed.stdout.is_empty(),
        "{} bytes went to stdout before the refusal",
        streamed.stdout.len()
    );
}

/// True if the ELF file at `bytes` has no program interpreter (a static binary).
fn is_static_elf(bytes: &[u8]) -> bool {
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |o: usize| {
        bytes
            .get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    // 64-bit little-endian ELF only; anything else is "don't know", so not static.
    if !bytes.starts_with(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    const PT_INTERP: u32 = 3;
    (0..usize::from(phnum)).all(|i| {
        let at = phoff as usize + i * usize::from(phentsize);
        bytes
            .get(at..at + 4)
            .is_some_and(|t| u32::from_le_bytes(t.try_into().expect("4 bytes")) != PT_INTERP)
    })
}

#[test]
fn rootfs_with_a_static_busybox_runs_under_chroot() {
    // .ci/run installs busybox-static, so with DRAG_REQUIRE_REAL_TOOLS=1 this runs for real.
    let Some(busybox) = require_tool("busybox") else {
        return;
    };
    let binary = std::fs::read(&busybox).expect("read busybox");
    if !is_static_elf(&binary) {
        skip(format_args!(
            "{} is not a static binary (install busybox-static)",
            busybox.display()
        ));
        return;
    }
    if !running_as_root() {
        skip("chroot needs root");
        return;
    }
    let Some(chroot) = require_tool("chroot") else {
        return;
    };
    let Some(tar) = require_tool("tar") else {
        return;
    };
    let registry = FakeRegistry::start();
    let image = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .dir("bin", 0o755)
                .file("bin/busybox", &binary, 0o755)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .dir("etc", 0o755)
                .file("etc/greeting", "hi from the rootfs\n", 0o644)
                .build(Compression::Zstd),
        )
        .build();
    registry.push_image("busybox", "1", &image);
    let dir = fresh_dir("rootfs-chroot-");
    pull(
        &dir,
        &[
            "-q",
            "--format",
            "rootfs",
            "-o",
            "rootfs.tar",
            &format!("{}/busybox:1", registry.host()),
        ],
    )
    .assert_success();
    let root = dir.join("root");
    std::fs::create_dir(&root).expect("create root");
    tool(
        &tar,
        &[
            "-xpf",
            &dir.join("rootfs.tar").display().to_string(),
            "-C",
            &root.display().to_string(),
        ],
    );
    let root_arg = root.display().to_string();
    tool(&chroot, &[&root_arg, "/bin/busybox", "true"]);
    assert_eq!(
        tool(
            &chroot,
            &[&root_arg, "/bin/busybox", "cat", "/etc/greeting"]
        ),
        "hi from the rootfs\n"
    );
}

#[test]
fn several_images_go_into_one_archive_sharing_blobs() {
    let registry = FakeRegistry::start();
    let app = oci_image("amd64", "app");
    let tools = ImageBuilder::new()
        .layer(base_layer())
        .layer(
            LayerBuilder::new()
                .file("tools", "tools", 0o755)
                .build(Compression::Gzip),
        )
        .build();
    registry.push_image("app", "1", &app);
    registry.push_image("tools", "2", &tools);
    let dir = fresh_dir("bundle-");
    let host = registry.host();
    let app_ref = format!("{host}/app:1");
    let tools_ref = format!("{host}/tools:2");
    pull(&dir, &["-o", "bundle.tar", &app_ref, &tools_ref]).assert_success();

    let archive = dir.join("bundle.tar");
    let bytes = std::fs::read(&archive).expect("read bundle.tar");
    let names = entry_names(&bytes);
    let shared = blob_path(&app.layers[0].blob.digest);
    assert_eq!(
        names.iter().filter(|n| **n == shared).count(),
        1,
        "shared base layer stored once: {names:?}"
    );
    let tar = read_tar_bytes(&bytes);
    let manifest = json_entry(&tar, "manifest.json");
    assert_eq!(manifest.as_array().map(Vec::len), Some(2), "{manifest}");
    for (i, (image, reference)) in [(&app, &app_ref), (&tools, &tools_ref)]
        .into_iter()
        .enumerate()
    {
        assert_eq!(manifest[i]["RepoTags"], serde_json::json!([reference]));
        assert_eq!(manifest[i]["Config"], blob_path(&image.config.digest));
        let layers: Vec<String> = image
            .layers
            .iter()
            .map(|l| blob_path(&l.blob.digest))
            .collect();
        assert_eq!(manifest[i]["Layers"], serde_json::json!(layers));
    }
    let index = json_entry(&tar, "index.json");
    let digests: Vec<&str> = index["manifests"]
        .as_array()
        .expect("index.json has manifests")
        .iter()
        .filter_map(|m| m["digest"].as_str())
        .collect();
    assert_eq!(digests, [app.digest(), tools.digest()]);

    if let Some(podman) = Podman::new() {
        let names = podman.load(&archive);
        for reference in [&app_ref, &tools_ref] {
            assert!(
                names.contains(reference),
                "{reference} not loaded: {names:?}"
            );
        }
        assert_eq!(
            podman.diff_ids(&tools_ref),
            serde_json::json!(tools.diff_ids())
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn zstd_layers_kept_by_keep_zstd_load_with_podman() {
    let Some(registry) = RealRegistry::start().await else {
        return;
    };
    let Some(podman) = Podman::new() else {
        return;
    };
    let dir = fresh_dir("zstd-podman-");
    for (repo, format) in [
        ("zstd-oci", ManifestFormat::Oci),
        ("zstd-docker", ManifestFormat::Docker),
    ] {
        let image = ImageBuilder::new()
            .format(format)
            .layer(
                LayerBuilder::new()
                    .dir("etc", 0o755)
                    .file("etc/zstd", "zstd layer\n", 0o644)
                    .build(Compression::Zstd),
            )
            .layer(
                LayerBuilder::new()
                    .file("data", vec![9u8; 100_000], 0o644)
                    .build(Compression::Zstd),
            )
            .build();
        assert!(image
            .layers
            .iter()
            .all(|l| l.blob.media_type == media_types::OCI_LAYER_ZSTD));
        registry.push_image(repo, "1", &image).await;
        let reference = format!("{}/{repo}:1", registry.host());
        let archive = dir.join(format!("{repo}.tar"));
        pull(
            &dir,
            &[
                "-q",
                "--keep-zstd",
                "-o",
                &archive.display().to_string(),
                &reference,
            ],
        )
        .assert_success();
        let blobs = read_tar(&archive);
        for l in &image.layers {
            assert!(
                blobs.contains_key(&blob_path(&l.blob.digest)),
                "{repo}: zstd layer {} not kept",
                l.blob.digest
            );
        }
        let names = podman.load(&archive);
        assert!(names.contains(&reference), "{reference}: {names:?}");
        assert_eq!(
            podman.diff_ids(&reference),
            serde_json::json!(image.diff_ids()),
            "{repo}"
        );
    }
}

/// A Docker-typed image, as most of Docker Hub serves them.
fn docker_image(arch: &str, marker: &str) -> Image {
    app_image(ManifestFormat::Docker, arch, marker)
}

/// The manifest a layout's index entry names, after checking that it is OCI-typed
/// throughout and names exactly `image`'s blobs.
#[track_caller]
fn assert_oci_typed_copy_of(layout: &Path, entry: &serde_json::Value, image: &Image) {
    let digest = entry["digest"].as_str().expect("entry digest");
    assert_ne!(
        digest,
        image.digest(),
        "a rewritten manifest has a new digest"
    );
    let bytes = read_blob(layout, digest);
    assert_eq!(drag_tests::sha256_digest(&bytes), digest);
    assert_eq!(entry["size"], bytes.len());
    let m: serde_json::Value = serde_json::from_slice(&bytes).expect("manifest JSON");
    assert_eq!(m["mediaType"], media_types::OCI_MANIFEST);
    assert_eq!(m["config"]["mediaType"], media_types::OCI_CONFIG);
    assert_eq!(m["config"]["digest"], image.config.digest.as_str());
    assert_eq!(
        read_blob(layout, &image.config.digest),
        image.config.bytes.to_vec(),
        "the config keeps its bytes"
    );
    let layers = m["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), image.layers.len());
    for (got, want) in layers.iter().zip(&image.layers) {
        assert_eq!(got["mediaType"], media_types::OCI_LAYER_GZIP);
        assert_eq!(got["digest"], want.blob.digest.as_str());
        assert_eq!(
            read_blob(layout, &want.blob.digest),
            want.blob.bytes.to_vec()
        );
    }
}

#[test]
fn oci_media_types_make_docker_images_readable_by_umoci_and_skopeo() {
    let registry = FakeRegistry::start();
    let amd = docker_image("amd64", "amd\n");
    let arm = docker_image("arm64", "arm\n");
    let list = IndexBuilder::new(ManifestFormat::Docker)
        .image(&amd)
        .image(&arm)
        .build();
    registry.push_index("app", "1", &list, &[&amd, &arm]);
    let dir = fresh_dir("oci-media-types-");
    let reference = format!("{}/app:1", registry.host());

    // One platform: the image manifest, rewritten.
    pull(
        &dir,
        &[
            "--format",
            "oci",
            "--oci-media-types",
            "-o",
            "one",
            &reference,
        ],
    )
    .assert_success();
    let one = dir.join("one");
    let entry = index_entry(&one, "1");
    assert_eq!(entry["mediaType"], media_types::OCI_MANIFEST);
    assert_eq!(entry["platform"]["architecture"], "amd64");
    assert_oci_typed_copy_of(&one, &entry, &amd);
    if let Some(umoci) = require_tool("umoci") {
        let bundle = dir.join("bundle");
        let image = format!("{}:1", one.display());
        let bundle_arg = bundle.display().to_string();
        tool(
            &umoci,
            &["unpack", "--rootless", "--image", &image, &bundle_arg],
        );
        assert_eq!(
            std::fs::read_to_string(bundle.join("rootfs/app/marker")).expect("unpacked marker"),
            "amd\n"
        );
    }

    // Every platform: the list becomes an OCI index naming the rewritten images.
    pull(
        &dir,
        &[
            "--format",
            "oci",
            "--oci-media-types",
            "--all-platforms",
            "-o",
            "all",
            &reference,
        ],
    )
    .assert_success();
    let all = dir.join("all");
    let root = index_entry(&all, "1");
    assert_eq!(root["mediaType"], media_types::OCI_INDEX);
    assert_ne!(root["digest"], list.digest.as_str());
    let index: serde_json::Value =
        serde_json::from_slice(&read_blob(&all, root["digest"].as_str().expect("digest")))
            .expect("index JSON");
    assert_eq!(index["mediaType"], media_types::OCI_INDEX);
    for (entry, image) in index["manifests"]
        .as_array()
        .expect("entries")
        .iter()
        .zip([&amd, &arm])
    {
        assert_eq!(entry["mediaType"], media_types::OCI_MANIFEST);
        assert_oci_typed_copy_of(&all, entry, image);
    }
    assert_eq!(index["manifests"][1]["platform"]["architecture"], "arm64");
    if let Some(skopeo) = require_tool("skopeo") {
        let info: serde_json::Value = serde_json::from_str(&tool(
            &skopeo,
            &[
                "--override-arch",
                "arm64",
                "inspect",
                &format!("oci:{}:1", all.display()),
            ],
        ))
        .expect("skopeo prints JSON");
        assert_eq!(info["Architecture"], "arm64");
        let layers: Vec<&str> = arm.layers.iter().map(|l| l.blob.digest.as_str()).collect();
        assert_eq!(info["Layers"], serde_json::json!(layers));
    }

    // Only layouts have media types to rewrite.
    let refused = pull(&dir, &["--oci-media-types", "-o", "x.tar", &reference]);
    assert_eq!(refused.status.code(), Some(2), "{}", refused.stderr);
}

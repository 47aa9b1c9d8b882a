//! `-o` never destroys what it names: a FIFO or a character device is written into and stays
//! what it was, a symlink stays a link while its target gets the output; and outputs get the
//! modes the umask gives any new file.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use drag_tests::archive::{blob_path, dir_names, json_entry, read_tar, read_tar_bytes};
use drag_tests::drag_cli::{drag_after, fresh_dir, pull};
use drag_tests::tools::skip;
use drag_tests::{run, Compression, DragOutput, FakeRegistry, Image, ImageBuilder, LayerBuilder};

fn image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("etc/motd", "written in place\n", 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// An anonymous registry holding [`image`] as `team/app:1`, and that reference.
fn registry() -> (FakeRegistry, String, Image) {
    let registry = FakeRegistry::start();
    let image = image();
    registry.push_image("team/app", "1", &image);
    let reference = format!("{}/team/app:1", registry.host());
    (registry, reference, image)
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Reads `fifo` to its end on another thread (opening it blocks until drag opens it to write).
fn read_fifo(fifo: &Path) -> std::thread::JoinHandle<Vec<u8>> {
    let fifo = fifo.to_path_buf();
    std::thread::spawn(move || std::fs::read(&fifo).expect("read the FIFO"))
}

#[test]
fn output_onto_a_fifo_streams_into_it_and_leaves_the_fifo() {
    let (_registry, reference, image) = registry();
    let dir = fresh_dir("out-fifo-");
    let fifo = dir.join("pipe");
    mkfifo(&fifo);
    // `--decompress` too: a stream cannot take a layer whose size is only predicted, so its
    // layers are inflated first, as for `-o -`.
    for format in ["docker", "rootfs", "--decompress"] {
        let reader = read_fifo(&fifo);
        let args: &[&str] = match format {
            "--decompress" => &["--decompress"],
            _ => &["--format", format],
        };
        let out = pull(&dir, &[&["-q"], args, &["-o", "pipe", &reference]].concat());
        out.assert_success();
        // Checked before joining: a FIFO renamed away would leave the reader waiting forever.
        let meta = std::fs::symlink_metadata(&fifo).unwrap();
        assert!(meta.file_type().is_fifo(), "{format}: still a FIFO");
        let bytes = reader.join().expect("reader thread");
        let entries = read_tar_bytes(&bytes);
        match format {
            "docker" | "--decompress" => assert_eq!(
                json_entry(&entries, "manifest.json")[0]["Config"],
                blob_path(&image.config.digest),
            ),
            _ => assert_eq!(entries["etc/motd"].data, b"written in place\n"),
        }
    }
    assert_eq!(dir_names(&dir), ["pipe"], "nothing written beside the FIFO");
}

#[test]
fn output_onto_a_character_device_writes_into_it_and_leaves_the_device() {
    let (_registry, reference, _) = registry();
    let dir = fresh_dir("out-chardev-");
    // A device node of our own in a temporary directory (/dev itself is never touched):
    // /dev/null's numbers, so writing into it is harmless.
    let node = dir.join("null");
    let made = Command::new("mknod")
        .arg(&node)
        .args(["c", "1", "3"])
        .output()
        .expect("run mknod");
    if !made.status.success() {
        let why = String::from_utf8_lossy(&made.stderr);
        let root = std::fs::metadata(&dir).unwrap().uid() == 0;
        skip(format_args!(
            "mknod needs root (root: {root}): {}",
            why.trim_end()
        ));
        return;
    }
    let before = std::fs::symlink_metadata(&node).unwrap();
    // --no-cache: the temporary store must not go beside the device either.
    pull(&dir, &["-q", "--no-cache", "-o", "null", &reference]).assert_success();
    let after = std::fs::symlink_metadata(&node).unwrap();
    assert!(
        after.file_type().is_char_device(),
        "still a character device"
    );
    assert_eq!(after.rdev(), before.rdev(), "same device numbers");
    assert_eq!(
        dir_names(&dir),
        ["null"],
        "nothing written beside the device"
    );
}

#[test]
fn output_onto_a_symlink_replaces_its_target_and_keeps_the_link() {
    let (_registry, reference, image) = registry();
    let dir = fresh_dir("out-symlink-");
    std::fs::create_dir(dir.join("real")).unwrap();
    std::fs::write(dir.join("real/app.tar"), "old contents").unwrap();
    std::os::unix::fs::symlink("real/app.tar", dir.join("link.tar")).unwrap();
    // A link whose target does not exist yet: the target is created, as `>` would.
    std::os::unix::fs::symlink("real/new.tar", dir.join("dangling.tar")).unwrap();

    for (link, target) in [
        ("link.tar", "real/app.tar"),
        ("dangling.tar", "real/new.tar"),
    ] {
        pull(&dir, &["-q", "-o", link, &reference]).assert_success();
        let meta = std::fs::symlink_metadata(dir.join(link)).unwrap();
        assert!(meta.file_type().is_symlink(), "{link} is still a link");
        assert_eq!(
            std::fs::read_link(dir.join(link)).unwrap(),
            PathBuf::from(target)
        );
        let entries = read_tar(&dir.join(target));
        assert_eq!(
            json_entry(&entries, "manifest.json")[0]["Config"],
            blob_path(&image.config.digest),
        );
    }
    assert_eq!(dir_names(&dir.join("real")), ["app.tar", "new.tar"]);

    // --format oci: a link to a directory is followed, the layout built in the target.
    std::fs::create_dir(dir.join("layout-dir")).unwrap();
    std::os::unix::fs::symlink("layout-dir", dir.join("layout")).unwrap();
    pull(&dir, &["-q", "--format", "oci", "-o", "layout", &reference]).assert_success();
    let meta = std::fs::symlink_metadata(dir.join("layout")).unwrap();
    assert!(meta.file_type().is_symlink(), "the layout link is kept");
    assert!(dir.join("layout-dir/oci-layout").is_file());
    assert!(dir.join("layout-dir/index.json").is_file());
}

#[test]
fn oci_output_onto_a_fifo_is_refused() {
    let (registry, reference, _) = registry();
    let dir = fresh_dir("out-oci-fifo-");
    let fifo = dir.join("pipe");
    mkfifo(&fifo);
    let out = pull(&dir, &["-q", "--format", "oci", "-o", "pipe", &reference]);
    assert_eq!(out.status.code(), Some(2), "a usage error: {}", out.stderr);
    assert!(
        out.stderr.contains("FIFO") && out.stderr.contains("directory"),
        "{}",
        out.stderr
    );
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(registry.requests().is_empty(), "refused before any request");
}

/// `drag pull -q ARGS...` in `dir`, run by `sh` after `umask MASK`.
fn pull_with_umask(dir: &Path, mask: &str, args: &[&str]) -> DragOutput {
    let mut command = drag_after(&format!("umask {mask}"));
    command.current_dir(dir).args(["pull", "-q"]).args(args);
    run(&mut command)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn outputs_honour_the_umask() {
    let (_registry, reference, image) = registry();
    let dir = fresh_dir("out-umask-");
    let config_blob = blob_path(&image.config.digest);
    for (mask, file, directory) in [("077", 0o600, 0o700), ("022", 0o644, 0o755)] {
        let tar = format!("app-{mask}.tar");
        let rootfs = format!("rootfs-{mask}.tar");
        let layout = format!("layout-{mask}");
        pull_with_umask(&dir, mask, &["-o", &tar, &reference]).assert_success();
        pull_with_umask(
            &dir,
            mask,
            &["--format", "rootfs", "-o", &rootfs, &reference],
        )
        .assert_success();
        pull_with_umask(&dir, mask, &["--format", "oci", "-o", &layout, &reference])
            .assert_success();
        assert_eq!(mode(&dir.join(&tar)), file, "docker archive, umask {mask}");
        assert_eq!(mode(&dir.join(&rootfs)), file, "rootfs, umask {mask}");
        let layout = dir.join(&layout);
        assert_eq!(mode(&layout), directory, "layout directory, umask {mask}");
        assert_eq!(mode(&layout.join("blobs/sha256")), directory);
        for name in ["oci-layout", "index.json", config_blob.as_str()] {
            assert_eq!(mode(&layout.join(name)), file, "{name}, umask {mask}");
        }
    }
}

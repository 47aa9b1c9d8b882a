//! The edges a newcomer meets first: a cache that cannot be used, an output that cannot be
//! written (found out before any download), standard output that is a terminal, a full disk or
//! a closed pipe, and `-j 0`. Each message is checked for what it tells the user to do.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use drag_tests::archive::{assert_archive_holds_image, dir_names, files_under};
use drag_tests::bytes::noise;
use drag_tests::drag_cli::{drag_after, fresh_dir, pull_command, with_drag_env};
use drag_tests::tmpfs::Tmpfs;
use drag_tests::{
    drag, drag_bin, require_tool, run, Compression, DragOutput, FakeRegistry, Image, ImageBuilder,
    Layer, LayerBuilder,
};

const CACHE_WARNING: &str = "warning: cannot write to the cache at ";

fn small_image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("etc/motd", "hello\n", 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// A registry holding `image` as `team/app:1`, and that reference.
fn serving(image: &Image) -> (FakeRegistry, String) {
    let registry = FakeRegistry::start();
    registry.push_image("team/app", "1", image);
    let reference = format!("{}/team/app:1", registry.host());
    (registry, reference)
}

/// The lines of stderr that warn about the cache.
fn cache_warnings(out: &DragOutput) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|l| l.contains(CACHE_WARNING))
        .collect()
}

/// Asserts one cache warning naming `cache` and `why`, with what to do about it.
#[track_caller]
fn assert_one_cache_warning(out: &DragOutput, cache: &Path, why: &str) {
    let warnings = cache_warnings(out);
    assert_eq!(warnings.len(), 1, "one warning:\n{}", out.stderr);
    let w = warnings[0];
    assert!(
        w.starts_with(&format!("{CACHE_WARNING}{}: ", cache.display())),
        "{w}"
    );
    assert!(w.contains(why), "says why ({why}): {w}");
    assert!(
        w.contains("set DRAG_CACHE_DIR to a writable directory, or use --no-cache"),
        "says what to do: {w}"
    );
}

/// A cache path that can never be created: under a regular file (root cannot either).
fn uncreatable_cache() -> PathBuf {
    let dir = fresh_dir("cache-under-file-");
    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    file.join("cache")
}

#[test]
fn a_cache_that_cannot_be_created_is_one_warning_and_the_pull_goes_on() {
    let image = small_image();
    let (_registry, reference) = serving(&image);
    let cache = uncreatable_cache();
    let dir = fresh_dir("edge-out-");
    let out = run(pull_command(&dir)
        .env("DRAG_CACHE_DIR", &cache)
        .args(["-o", "app.tar", &reference]));
    out.assert_success();
    assert_one_cache_warning(&out, &cache, "Not a directory");
    assert_archive_holds_image(&dir.join("app.tar"), &image);
    assert_eq!(
        dir_names(&dir),
        ["app.tar"],
        "the temporary store beside the output is gone"
    );
    // -q silences progress, not the warning.
    let out = run(pull_command(&dir).env("DRAG_CACHE_DIR", &cache).args([
        "-q",
        "-o",
        "quiet.tar",
        &reference,
    ]));
    out.assert_success();
    assert_one_cache_warning(&out, &cache, "Not a directory");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn a_cache_that_cannot_be_created_is_one_warning_and_inspect_goes_on() {
    let image = small_image();
    let (_registry, reference) = serving(&image);
    let cache = uncreatable_cache();
    for raw in [false, true] {
        let mut cmd = drag();
        cmd.env("DRAG_CACHE_DIR", &cache).arg("inspect");
        if raw {
            cmd.arg("--raw");
        }
        let out = run(cmd.arg(&reference));
        out.assert_success();
        assert_one_cache_warning(&out, &cache, "Not a directory");
        if raw {
            assert_eq!(out.stdout, image.manifest.bytes.as_ref());
        } else {
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(json["image"]["config"]["digest"], image.config.digest);
        }
    }
}

#[test]
fn inspect_with_no_cache_neither_reads_nor_fills_the_cache() {
    let image = small_image();
    let (_registry, reference) = serving(&image);
    let cache = fresh_dir("inspect-cache-");
    let inspect = |extra: &[&str]| {
        let mut cmd = drag();
        cmd.env("DRAG_CACHE_DIR", &cache)
            .arg("inspect")
            .args(extra)
            .arg(&reference);
        run(&mut cmd)
    };
    inspect(&["--no-cache"]).assert_success();
    assert!(
        dir_names(&cache).is_empty(),
        "--no-cache created {:?}",
        dir_names(&cache)
    );
    // Without it the manifests are kept: the check above can fail.
    inspect(&[]).assert_success();
    assert!(dir_names(&cache).contains(&"manifests".to_string()));
    // An unusable cache with --no-cache is not looked at, so not warned about.
    let out = run(drag().env("DRAG_CACHE_DIR", uncreatable_cache()).args([
        "inspect",
        "--no-cache",
        &reference,
    ]));
    out.assert_success();
    assert!(cache_warnings(&out).is_empty(), "{}", out.stderr);
}

/// A pull with a cache on a read-only mount: one warning; what the cache holds is still used
/// (no blob downloaded again), and nothing is written there.
#[test]
fn a_read_only_cache_is_one_warning_and_still_serves_what_it_holds() {
    let Some(mount) = Tmpfs::mount(4096) else {
        return;
    };
    let image = small_image();
    let (registry, reference) = serving(&image);
    let cache = mount.path().join("cache");
    let dir = fresh_dir("edge-ro-");
    run(pull_command(&dir).env("DRAG_CACHE_DIR", &cache).args([
        "-q",
        "-o",
        "first.tar",
        &reference,
    ]))
    .assert_success();
    mount.make_read_only();
    registry.clear_requests();
    let out = run(pull_command(&dir).env("DRAG_CACHE_DIR", &cache).args([
        "-o",
        "second.tar",
        &reference,
    ]));
    out.assert_success();
    assert_one_cache_warning(&out, &cache, "Read-only file system");
    assert_archive_holds_image(&dir.join("second.tar"), &image);
    for layer in &image.layers {
        assert_eq!(
            registry.blob_get_count(&layer.blob.digest),
            0,
            "a cached layer was downloaded again"
        );
    }
}

/// A cache that fills up while a layer is written into it: one warning, and the layer is
/// fetched again into a temporary store beside the output.
#[test]
fn a_cache_that_fills_up_mid_pull_is_one_warning_and_the_pull_goes_on() {
    let Some(mount) = Tmpfs::mount(512) else {
        return;
    };
    let big = Layer::from_tar(
        LayerBuilder::new()
            .file("big.bin", noise(2 << 20, 10), 0o644)
            .tar(),
        Compression::Gzip,
    );
    let image = ImageBuilder::new().layer(big).build();
    let (registry, reference) = serving(&image);
    let cache = mount.path().join("cache");
    let dir = fresh_dir("edge-full-");
    let out = run(pull_command(&dir)
        .env("DRAG_CACHE_DIR", &cache)
        .args(["-o", "app.tar", &reference]));
    out.assert_success();
    assert_one_cache_warning(&out, &cache, "No space left on device");
    assert_archive_holds_image(&dir.join("app.tar"), &image);
    assert_eq!(
        registry.blob_get_count(&image.layers[0].blob.digest),
        2,
        "once into the full cache, once into the temporary store"
    );
    assert!(
        dir_names(&cache.join("tmp")).is_empty(),
        "the failed download left {:?} in the cache",
        dir_names(&cache.join("tmp"))
    );
    assert_eq!(dir_names(&dir), ["app.tar"]);
}

/// Blobs and manifests get one mode, the one the umask gives a new file (they used to differ:
/// manifests 0600, blobs 0644).
#[test]
fn cached_blobs_and_manifests_get_the_mode_the_umask_gives() {
    let image = small_image();
    let (_registry, reference) = serving(&image);
    for (umask, mode) in [("022", 0o644), ("027", 0o640)] {
        let cache = fresh_dir("mode-cache-");
        let dir = fresh_dir("mode-out-");
        run(drag_after(&format!("umask {umask}"))
            .current_dir(&dir)
            .env("DRAG_CACHE_DIR", &cache)
            .args(["pull", "-q", "-o", "app.tar", &reference]))
        .assert_success();
        let files: Vec<PathBuf> = ["blobs", "unsynced", "manifests"]
            .iter()
            .flat_map(|d| files_under(&cache.join(d)))
            .collect();
        assert!(
            files.iter().any(|f| f.starts_with(cache.join("manifests"))),
            "a manifest was cached: {files:?}"
        );
        assert_eq!(files.len(), 3, "config, layer, manifest: {files:?}");
        for f in files {
            let got = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(got, mode, "umask {umask}: {}", f.display());
        }
    }
}

/// Asserts a refusal made before the registry was asked anything.
#[track_caller]
fn assert_refused_before_any_request(out: &DragOutput, registry: &FakeRegistry, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {}", out.stderr);
    assert!(lines[0].starts_with("drag: error: "), "{}", lines[0]);
    assert!(
        registry.requests().is_empty(),
        "requests made before refusing: {:?}",
        registry
            .requests()
            .iter()
            .map(|r| r.path().to_string())
            .collect::<Vec<_>>()
    );
}

#[test]
fn an_oci_layout_onto_an_existing_file_is_refused_before_any_download() {
    let image = small_image();
    let (registry, reference) = serving(&image);
    let dir = fresh_dir("edge-oci-file-");
    std::fs::write(dir.join("taken"), "keep me").unwrap();
    let out = run(pull_command(&dir).args(["--format", "oci", "-o", "taken", &reference]));
    assert_refused_before_any_request(&out, &registry, 2);
    assert!(
        out.stderr.contains(
            "taken is a file, and --format oci writes a directory (an OCI layout); choose \
             another -o"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(dir.join("taken")).unwrap(), b"keep me");
    assert_eq!(dir_names(&dir), ["taken"]);
}

#[test]
fn an_oci_layout_onto_a_directory_that_is_not_one_is_refused_before_any_download() {
    let image = small_image();
    let (registry, reference) = serving(&image);
    let dir = fresh_dir("edge-oci-dir-");
    std::fs::create_dir(dir.join("photos")).unwrap();
    std::fs::write(dir.join("photos/cat.jpg"), "meow").unwrap();
    let out = run(pull_command(&dir).args(["--format", "oci", "-o", "photos", &reference]));
    assert_refused_before_any_request(&out, &registry, 2);
    assert!(
        out.stderr
            .contains("photos exists and is not an OCI layout; choose another -o"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_archive_onto_a_directory_is_refused_before_any_download() {
    let image = small_image();
    let (registry, reference) = serving(&image);
    let dir = fresh_dir("edge-tar-dir-");
    std::fs::create_dir(dir.join("out")).unwrap();
    for format in ["docker", "rootfs"] {
        registry.clear_requests();
        let out = run(pull_command(&dir).args(["--format", format, "-o", "out", &reference]));
        assert_refused_before_any_request(&out, &registry, 2);
        assert!(
            out.stderr.contains(&format!(
                "out is a directory, and --format {format} writes a tar file; name a file, \
                 e.g. -o out/image.tar"
            )),
            "{}",
            out.stderr
        );
    }
    assert!(dir_names(&dir.join("out")).is_empty());
}

#[test]
fn an_output_under_a_file_is_refused_before_any_download() {
    let image = small_image();
    let (registry, reference) = serving(&image);
    let dir = fresh_dir("edge-under-file-");
    std::fs::write(dir.join("file"), "").unwrap();
    let out = run(pull_command(&dir).args(["-o", "file/sub/app.tar", &reference]));
    assert_refused_before_any_request(&out, &registry, 1);
    assert!(
        out.stderr
            .contains("cannot write the output in file (choose another -o): Not a directory"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_output_on_a_read_only_file_system_is_refused_before_any_download() {
    let Some(mount) = Tmpfs::mount(64) else {
        return;
    };
    mount.make_read_only();
    let image = small_image();
    let (registry, reference) = serving(&image);
    let dir = fresh_dir("edge-ro-out-");
    for (format, target) in [("docker", "app.tar"), ("oci", "layout")] {
        registry.clear_requests();
        let target = mount.path().join(target);
        let out = run(pull_command(&dir).args([
            "--format",
            format,
            "-o",
            target.to_str().unwrap(),
            &reference,
        ]));
        assert_refused_before_any_request(&out, &registry, 1);
        assert!(
            out.stderr.contains(&format!(
                "cannot write the output in {} (choose another -o): Read-only file system",
                mount.path().display()
            )),
            "{format}: {}",
            out.stderr
        );
    }
}

#[test]
fn zero_parallel_downloads_is_a_usage_error() {
    for jobs in [["-j", "0"], ["--jobs", "0"]] {
        let out = run(drag().arg("pull").args(jobs).arg("alpine"));
        assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
        assert!(
            out.stderr
                .contains("invalid value '0' for '--jobs <N>': must be at least 1"),
            "{}",
            out.stderr
        );
    }
}

/// Single quotes for `sh`, for paths and references in a command line.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `drag ARGS` on a terminal (`script` gives it one), in `dir`.
fn on_a_terminal(dir: &Path, args: &[&str]) -> Option<DragOutput> {
    let script = require_tool("script")?;
    let line = std::iter::once(drag_bin().to_string_lossy().into_owned())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| quoted(&a))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = with_drag_env(script);
    cmd.current_dir(dir)
        .args(["-q", "-e", "-c", &line, "/dev/null"]);
    Some(run(&mut cmd))
}

#[test]
fn a_tar_is_not_written_to_a_terminal() {
    let image = small_image();
    let (registry, reference) = serving(&image);
    let dir = fresh_dir("edge-tty-");
    for format in ["docker", "rootfs"] {
        let Some(out) = on_a_terminal(&dir, &["pull", "--format", format, "-o", "-", &reference])
        else {
            return;
        };
        assert_eq!(
            out.status.code(),
            Some(2),
            "{format}: {}",
            out.stdout_text()
        );
        // `script` puts the terminal's output, drag's stderr included, on its stdout.
        assert!(
            out.stdout_text().contains(
                "drag: error: refusing to write a tar to a terminal: redirect stdout or use -o FILE"
            ),
            "{format}: {}",
            out.stdout_text()
        );
    }
    assert!(registry.requests().is_empty());
    // The same command with stdout redirected writes the archive.
    let out = run(pull_command(&dir).args(["-q", "-o", "-", &reference]));
    out.assert_success();
    assert!(out.stdout.len() > 1024);
}

/// `drag ARGS` with standard output on /dev/full.
fn to_a_full_disk(args: &[&str]) -> DragOutput {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let mut cmd = drag();
    cmd.args(args);
    let mut child = cmd
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start drag");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    DragOutput {
        status: child.wait().unwrap(),
        stdout: Vec::new(),
        stderr,
    }
}

#[test]
fn a_full_disk_on_stdout_is_one_error_line_not_a_panic() {
    let image = small_image();
    let (registry, reference) = serving(&image);
    let repository = format!("{}/team/app", registry.host());
    let cases: [&[&str]; 6] = [
        &["adapters"],
        &["--help"],
        &["tags", &repository],
        &["inspect", &reference],
        &["inspect", "--raw", &reference],
        &["pull", "-q", "-o", "-", &reference],
    ];
    for args in cases {
        let out = to_a_full_disk(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", out.stderr);
        assert_eq!(
            out.stderr.trim_end(),
            "drag: error: writing to standard output: No space left on device (os error 28)",
            "{args:?}"
        );
    }
}

/// Runs `drag ARGS` after its reader has gone: standard output is a pipe whose read end is
/// closed before drag starts. Returns drag's exit status and its stderr.
fn into_a_closed_pipe(args: &[&str]) -> (i32, String) {
    // `true` exits at once; drag starts a moment later, so its first write meets no reader.
    let mut cmd = with_drag_env("bash");
    cmd.arg("-c")
        .arg(r#"{ sleep 0.3; "$0" "$@"; echo "status=$?" >&2; } | true"#)
        .arg(drag_bin())
        .args(args);
    let out = run(&mut cmd);
    let (status, rest): (Vec<&str>, Vec<&str>) =
        out.stderr.lines().partition(|l| l.starts_with("status="));
    let code = status
        .last()
        .and_then(|s| s.trim_start_matches("status=").parse().ok())
        .unwrap_or_else(|| panic!("no status: {}", out.stderr));
    (code, rest.join("\n"))
}

#[test]
fn a_closed_pipe_ends_drag_quietly_with_141() {
    let image = small_image();
    let (registry, reference) = serving(&image);
    let repository = format!("{}/team/app", registry.host());
    let cases: [&[&str]; 5] = [
        &["adapters"],
        &["tags", &repository],
        &["inspect", &reference],
        &["pull", "-q", "-o", "-", &reference],
        &["cache", "info"],
    ];
    for args in cases {
        let (code, stderr) = into_a_closed_pipe(args);
        assert_eq!(code, 141, "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}: nothing on stderr");
    }
}

/// The everyday case: `drag tags REPO | head -1` with more tags than a pipe holds, so drag is
/// still writing when `head` exits.
#[test]
fn tags_into_head_stop_quietly_after_the_first_line() {
    let registry = FakeRegistry::start();
    let image = small_image();
    for i in 0..12_000 {
        registry.push_manifest("team/app", &format!("v{i:05}"), &image.manifest);
    }
    registry.push_image("team/app", "v00000", &image);
    let mut cmd = with_drag_env("bash");
    cmd.arg("-c")
        .arg(r#"set -o pipefail; "$0" tags "$1" | head -1; echo "status=$?" >&2"#)
        .arg(drag_bin())
        .arg(format!("{}/team/app", registry.host()));
    let out = run(&mut cmd);
    assert_eq!(out.stdout_text(), "v00000\n");
    assert_eq!(out.stderr.trim_end(), "status=141", "{}", out.stderr);
}

/// `--help` on a closed pipe too, which clap alone would report as success.
#[test]
fn help_into_a_closed_pipe_is_141_too() {
    let (code, stderr) = into_a_closed_pipe(&["--help"]);
    assert_eq!(code, 141, "{stderr}");
    assert_eq!(stderr, "");
    // And normally it is 0 and on stdout.
    let out = run(Command::new(drag_bin()).arg("--help"));
    out.assert_success();
    assert!(out.stdout_text().contains("Usage:"));
}

/// The library refuses it too, before any request: a pull with no download slot would wait
/// for ever.
#[tokio::test]
async fn the_library_refuses_zero_parallel_downloads_before_any_request() {
    let image = small_image();
    let (registry, reference) = serving(&image);
    let dir = fresh_dir("edge-jobs-");
    let mut opts = drag_core::PullOptions::new(vec![reference]);
    opts.output = Some(drag_core::Destination::Path(dir.join("app.tar")));
    opts.cache = drag_core::Cache::Disabled;
    opts.jobs = 0;
    let e = drag_core::pull(&opts, &drag_core::progress::Silent)
        .await
        .unwrap_err();
    assert!(e.is_usage(), "{e}");
    assert_eq!(e.to_string(), "--jobs must be at least 1");
    assert!(registry.requests().is_empty());
    assert!(dir_names(&dir).is_empty());
}

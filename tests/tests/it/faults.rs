//! Unbreakable transfers: a fault-injecting registry drops, stalls, corrupts and throttles, and
//! drag still delivers byte-correct output, resumes with Range, or fails cleanly.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use drag_tests::archive::{assert_archive_holds_image, assert_left_nothing, dir_names};
use drag_tests::bytes::noise;
use drag_tests::drag_cli::{drag_bin, fresh_dir, pull_command};
use drag_tests::{
    run, Compression, DragOutput, FakeRegistry, Fault, Image, ImageBuilder, LayerBuilder, Listener,
};

/// Two small layers and one of about 3 MiB.
fn image_with_big_layer() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("a", "small a", 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("b", "small b", 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("big", noise(3 << 20, 7), 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// A registry holding [`image_with_big_layer`] as `app:1`, and the big layer's digest.
fn registry_with_big_image(registry: FakeRegistry) -> (FakeRegistry, Image, String) {
    let image = image_with_big_layer();
    registry.push_image("library/app", "1", &image);
    let big = image.layers[2].blob.digest.clone();
    (registry, image, big)
}

fn ranged_gets(registry: &FakeRegistry, digest: &str) -> Vec<String> {
    registry
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path().ends_with(digest))
        .filter_map(|r| r.range.clone())
        .collect()
}

fn pull_app(registry: &FakeRegistry, dir: &Path, extra: &[&str]) -> DragOutput {
    run(&mut app_pull_command(registry, dir, "out.tar", extra))
}

/// `drag pull -o OUT ... app:1` with `cache` as the blob cache.
fn pull_app_cached(
    registry: &FakeRegistry,
    dir: &Path,
    cache: &Path,
    out: &str,
    extra: &[&str],
) -> DragOutput {
    run(app_pull_command(registry, dir, out, extra).env("DRAG_CACHE_DIR", cache))
}

/// `drag pull -o OUT --endpoint REGISTRY EXTRA... app:1` in `dir`.
fn app_pull_command(registry: &FakeRegistry, dir: &Path, out: &str, extra: &[&str]) -> Command {
    let mut command = pull_command(dir);
    command
        .args(["-o", out, "--endpoint", &registry.url()])
        .args(extra)
        .arg("app:1");
    command
}

#[test]
fn dropped_connection_resumes_with_a_range_request() {
    let (registry, image, big) = registry_with_big_image(FakeRegistry::builder().cdn(true).start());
    registry.fault(Fault::DropAfter {
        digest: big.clone(),
        bytes: 1 << 20,
    });
    let dir = fresh_dir("drop-");
    pull_app(&registry, &dir, &[]).assert_success();
    assert_archive_holds_image(&dir.join("out.tar"), &image);
    let ranges = ranged_gets(&registry, &big);
    assert!(
        ranges
            .iter()
            .any(|r| r.starts_with("bytes=") && r != "bytes=0-"),
        "resumed with Range: {ranges:?}"
    );
    // The resume goes back to the registry, not to the (possibly expired) CDN URL.
    assert!(registry
        .requests()
        .iter()
        .any(|r| r.listener == Listener::Registry && r.range.is_some()));
}

#[test]
fn stalled_body_is_dropped_and_resumed() {
    let (registry, image, big) = registry_with_big_image(FakeRegistry::start());
    registry.fault(Fault::Stall {
        digest: big.clone(),
        after_bytes: 1 << 20,
        for_ms: 20_000,
    });
    let dir = fresh_dir("stall-");
    pull_app(&registry, &dir, &["--read-timeout", "1"]).assert_success();
    assert_archive_holds_image(&dir.join("out.tar"), &image);
    assert!(!ranged_gets(&registry, &big).is_empty());
    // Timed between the requests the registry saw, so starting drag is not counted: the
    // resume comes about a read timeout after the stalled GET, long before the stall ends.
    let gets: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path().ends_with(big.as_str()))
        .collect();
    let resumed = gets
        .iter()
        .find(|r| r.range.is_some())
        .expect("a ranged GET");
    let waited = resumed.received_at - gets[0].received_at;
    assert!(
        waited < Duration::from_secs(10),
        "waited {waited:?} for a body stalled 20 s with --read-timeout 1"
    );
}

#[test]
fn server_errors_and_throttling_are_retried_honouring_retry_after() {
    let registry = FakeRegistry::start();
    let image = image_with_big_layer();
    registry.push_image("library/app", "1", &image);
    registry.fault(Fault::Status {
        status: 503,
        times: 1,
        retry_after: None,
    });
    // Without Retry-After the second retry would wait about 0.5 s (at most 0.625 s); the
    // server asks for 2 s, so a client that ignores it retries too early.
    registry.fault(Fault::Status {
        status: 429,
        times: 1,
        retry_after: Some(2),
    });
    let dir = fresh_dir("retry-");
    pull_app(&registry, &dir, &["-j", "1"]).assert_success();
    assert_archive_holds_image(&dir.join("out.tar"), &image);
    // -j 1: the blob GETs come one at a time; the first met the 503, the second the 429,
    // the third is the retry of the 429.
    let blob_gets: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.listener == Listener::Registry && r.method == "GET")
        .filter(|r| r.path().contains("/blobs/"))
        .collect();
    assert!(blob_gets.len() >= 3, "{blob_gets:?}");
    assert_eq!(
        blob_gets[2].path(),
        blob_gets[1].path(),
        "the 429 is retried"
    );
    let waited = blob_gets[2].received_at - blob_gets[1].received_at;
    assert!(
        waited >= Duration::from_secs(2),
        "retried {waited:?} after a 429 with Retry-After: 2"
    );
}

#[test]
fn persistent_throttling_fails_with_the_registry_code() {
    let registry = FakeRegistry::start();
    registry.push_image("library/app", "1", &image_with_big_layer());
    registry.fault(Fault::Status {
        status: 429,
        times: 100,
        retry_after: Some(0),
    });
    let dir = fresh_dir("throttled-");
    let out = pull_app(&registry, &dir, &["--retries", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("429"), "{}", out.stderr);
    assert_left_nothing(&dir);
}

#[test]
fn a_corrupt_transfer_is_discarded_and_fetched_again() {
    let (registry, image, big) = registry_with_big_image(FakeRegistry::start());
    registry.fault(Fault::FlipByte {
        digest: big.clone(),
        offset: 2 << 20,
    });
    let dir = fresh_dir("flip-once-");
    let out = pull_app(&registry, &dir, &[]);
    out.assert_success();
    assert!(
        out.stderr.contains("digest mismatch"),
        "the retry is reported: {}",
        out.stderr
    );
    assert_eq!(registry.blob_get_count(&big), 2);
    assert_archive_holds_image(&dir.join("out.tar"), &image);
}

#[test]
fn chunked_bodies_without_content_length_work() {
    let registry = FakeRegistry::start();
    let image = image_with_big_layer();
    registry.push_image("library/app", "1", &image);
    for _ in 0..4 {
        registry.fault(Fault::Chunked);
    }
    let dir = fresh_dir("chunked-");
    pull_app(&registry, &dir, &[]).assert_success();
    assert!(
        registry.pending_faults().is_empty(),
        "every blob served chunked"
    );
    assert_archive_holds_image(&dir.join("out.tar"), &image);
}

#[test]
fn warm_cache_pull_makes_no_blob_requests() {
    let registry = FakeRegistry::builder().cdn(true).start();
    let image = image_with_big_layer();
    registry.push_image("library/app", "1", &image);
    let dir = fresh_dir("warm-");
    let cache = fresh_dir("warm-cache-");
    pull_app_cached(&registry, &dir, &cache, "a.tar", &[]).assert_success();
    registry.clear_requests();
    pull_app_cached(&registry, &dir, &cache, "b.tar", &[]).assert_success();
    let blob_requests: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.path().contains("/blobs/"))
        .collect();
    assert!(blob_requests.is_empty(), "{blob_requests:#?}");
    assert!(
        registry.requests().iter().all(|r| r.method == "HEAD"),
        "only a HEAD for the tag: {:#?}",
        registry.requests()
    );
    assert_eq!(
        std::fs::read(dir.join("a.tar")).unwrap(),
        std::fs::read(dir.join("b.tar")).unwrap()
    );
}

#[test]
fn no_cache_leaves_nothing_but_the_output() {
    let registry = FakeRegistry::start();
    registry.push_image("library/app", "1", &image_with_big_layer());
    let dir = fresh_dir("nocache-");
    let cache = fresh_dir("nocache-cache-");
    pull_app_cached(&registry, &dir, &cache, "out.tar", &["--no-cache"]).assert_success();
    assert_eq!(dir_names(&dir), vec!["out.tar"]);
    assert_left_nothing(&cache);
}

/// Starts a pull that stalls on the big layer and waits until the small blobs are cached and
/// the big one has a partial file. With `--no-cache` in `extra`, the store watched is the
/// temporary one drag makes beside the output.
// The caller kills and waits for the returned child.
#[allow(clippy::zombie_processes)]
fn start_stalled_pull(
    registry: &FakeRegistry,
    dir: &Path,
    cache: &Path,
    extra: &[&str],
) -> std::process::Child {
    let mut child = std::process::Command::new(drag_bin())
        .env("DRAG_CACHE_DIR", cache)
        .current_dir(dir)
        .args(["pull", "-q", "-o", "out.tar", "--endpoint", &registry.url()])
        .args(extra)
        .arg("app:1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("drag starts");
    let store = || {
        if !extra.contains(&"--no-cache") {
            return cache.to_path_buf();
        }
        dir_names(dir)
            .into_iter()
            .find(|n| n.starts_with(".drag-store-"))
            .map_or_else(|| dir.join("no-store-yet"), |n| dir.join(n))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let cache = store();
        // Stored blobs: synced, or unsynced under this boot's name.
        let mut blobs = walk_files(&cache.join("blobs"));
        blobs.extend(walk_files(&cache.join("unsynced")));
        let partial = walk_files(&cache.join("tmp"))
            .into_iter()
            .any(|(n, len)| n.ends_with(".partial") && len > 0);
        if blobs.len() >= 3 && partial {
            return child;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pull never reached the stalled layer");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn walk_files(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk_files(&p));
            } else if let Ok(m) = e.metadata() {
                out.push((p.to_string_lossy().into_owned(), m.len()));
            }
        }
    }
    out
}

#[test]
fn a_killed_pull_resumes_without_downloading_finished_blobs_again() {
    let (registry, image, big) = registry_with_big_image(FakeRegistry::start());
    registry.fault(Fault::Stall {
        digest: big.clone(),
        after_bytes: 2 << 20,
        for_ms: 60_000,
    });
    let dir = fresh_dir("kill-");
    let cache = fresh_dir("kill-cache-");
    let mut child = start_stalled_pull(&registry, &dir, &cache, &[]);
    child.kill().expect("kill drag");
    child.wait().expect("reap drag");

    pull_app_cached(&registry, &dir, &cache, "out.tar", &[]).assert_success();
    assert_archive_holds_image(&dir.join("out.tar"), &image);
    for l in &image.layers[..2] {
        assert_eq!(
            registry.blob_get_count(&l.blob.digest),
            1,
            "finished blob fetched again"
        );
    }
    assert_eq!(registry.blob_get_count(&image.config.digest), 1);
    let ranges = ranged_gets(&registry, &big);
    assert_eq!(
        ranges.len(),
        1,
        "the second run resumed the partial blob: {ranges:?}"
    );
}

#[test]
fn a_terminated_pull_leaves_nothing_at_the_output_path() {
    let registry = FakeRegistry::start();
    let image = image_with_big_layer();
    registry.push_image("library/app", "1", &image);
    registry.fault(Fault::Stall {
        digest: image.layers[2].blob.digest.clone(),
        after_bytes: 2 << 20,
        for_ms: 60_000,
    });
    let dir = fresh_dir("term-");
    let cache = fresh_dir("term-cache-");
    let mut child = start_stalled_pull(&registry, &dir, &cache, &[]);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("reap drag");
    assert!(!exit.success());
    assert_left_nothing(&dir);
    let partial: Vec<_> = walk_files(&cache.join("tmp"))
        .into_iter()
        .filter(|(n, _)| n.ends_with(".partial"))
        .collect();
    assert_eq!(partial.len(), 1, "the partial blob stays for the next run");
}

#[test]
fn what_a_killed_pull_left_beside_the_output_is_removed_by_the_next() {
    let (registry, image, big) = registry_with_big_image(FakeRegistry::start());
    registry.fault(Fault::Stall {
        digest: big,
        after_bytes: 2 << 20,
        for_ms: 60_000,
    });
    let dir = fresh_dir("kill-leftovers-");
    let cache = fresh_dir("kill-leftovers-cache-");
    let mut child = start_stalled_pull(&registry, &dir, &cache, &["--no-cache"]);
    child.kill().expect("kill drag");
    child.wait().expect("reap drag");
    let left = dir_names(&dir);
    assert!(
        left.len() == 1 && left[0].starts_with(".drag-store-"),
        "SIGKILL leaves the temporary store: {left:?}"
    );
    // As if an earlier run had been killed while writing the archive itself.
    let half_written = dir.join(".out.tar.K1lled.drag-tmp");
    std::fs::write(&half_written, "half an archive").unwrap();
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::open(&half_written)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    // Leftovers younger than a moment are spared (their writer may not have locked them yet).
    std::thread::sleep(Duration::from_millis(2500));

    pull_app_cached(&registry, &dir, &cache, "out.tar", &["--no-cache"]).assert_success();
    assert_archive_holds_image(&dir.join("out.tar"), &image);
    assert_eq!(dir_names(&dir), vec!["out.tar"], "leftovers removed");
}

#[test]
fn concurrent_pulls_share_one_cache() {
    let registry = FakeRegistry::start();
    let image = image_with_big_layer();
    registry.push_image("library/app", "1", &image);
    let cache = fresh_dir("shared-cache-");
    let children: Vec<_> = (0..3)
        .map(|i| {
            let dir = fresh_dir(&format!("shared-{i}-"));
            let child = std::process::Command::new(drag_bin())
                .env("DRAG_CACHE_DIR", &cache)
                .current_dir(&dir)
                .args([
                    "pull",
                    "-q",
                    "-o",
                    "out.tar",
                    "--endpoint",
                    &registry.url(),
                    "app:1",
                ])
                .stdin(Stdio::null())
                .spawn()
                .expect("drag starts");
            (dir, child)
        })
        .collect();
    for (dir, mut child) in children {
        assert!(child.wait().expect("drag ends").success());
        assert_archive_holds_image(&dir.join("out.tar"), &image);
    }
}

#[test]
fn a_server_ignoring_range_restarts_the_blob_cleanly() {
    let (registry, image, big) =
        registry_with_big_image(FakeRegistry::builder().ranges(false).start());
    registry.fault(Fault::DropAfter {
        digest: big.clone(),
        bytes: 1 << 20,
    });
    let dir = fresh_dir("norange-");
    pull_app(&registry, &dir, &[]).assert_success();
    assert_archive_holds_image(&dir.join("out.tar"), &image);
    assert!(
        !ranged_gets(&registry, &big).is_empty(),
        "a resume was asked for"
    );
    assert_eq!(registry.blob_get_count(&big), 2);
}

fn partial_path(cache: &Path, digest: &str) -> std::path::PathBuf {
    let (alg, hex) = digest.split_once(':').expect("digest");
    cache.join("tmp").join(format!("{alg}-{hex}.partial"))
}

#[test]
fn a_whole_partial_file_is_stored_without_a_request() {
    let (registry, image, big) = registry_with_big_image(FakeRegistry::start());
    let cache = fresh_dir("whole-partial-cache-");
    let partial = partial_path(&cache, &big);
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, &image.layers[2].blob.bytes).unwrap();
    let dir = fresh_dir("whole-partial-");
    pull_app_cached(&registry, &dir, &cache, "out.tar", &[]).assert_success();
    assert_archive_holds_image(&dir.join("out.tar"), &image);
    assert_eq!(registry.blob_get_count(&big), 0);
    assert!(!partial.exists());
}

#[test]
fn a_corrupt_partial_file_is_discarded_and_the_blob_fetched_again() {
    let (registry, image, big) = registry_with_big_image(FakeRegistry::start());
    let cache = fresh_dir("bad-partial-cache-");
    let partial = partial_path(&cache, &big);
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    let mut wrong = image.layers[2].blob.bytes[..1 << 20].to_vec();
    wrong[100] ^= 0xff;
    std::fs::write(&partial, &wrong).unwrap();
    let dir = fresh_dir("bad-partial-");
    let out = pull_app_cached(&registry, &dir, &cache, "out.tar", &[]);
    out.assert_success();
    assert!(out.stderr.contains("digest mismatch"), "{}", out.stderr);
    assert_archive_holds_image(&dir.join("out.tar"), &image);
    assert_eq!(
        registry.blob_get_count(&big),
        2,
        "resumed once, then fetched whole"
    );
}

//! `drag cache`: info, prune and clean over a cache that real pulls filled.

use std::path::Path;
use std::time::{Duration, SystemTime};

use drag_tests::archive::files_under;
use drag_tests::drag_cli::{fresh_dir, pull_command};
use drag_tests::{drag, run, Compression, FakeRegistry, ImageBuilder, LayerBuilder};

fn filled_cache() -> std::path::PathBuf {
    let registry = FakeRegistry::start();
    let image = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("a", vec![1u8; 10_000], 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("b", vec![2u8; 20_000], 0o644)
                .build(Compression::Gzip),
        )
        .build();
    registry.push_image("library/app", "1", &image);
    let cache = fresh_dir("cache-cmd-");
    let dir = fresh_dir("cache-cmd-out-");
    run(pull_command(&dir).env("DRAG_CACHE_DIR", &cache).args([
        "-q",
        "--endpoint",
        &registry.url(),
        "app:1",
    ]))
    .assert_success();
    cache
}

fn cache_cmd(cache: &std::path::Path, args: &[&str]) -> drag_tests::DragOutput {
    let mut cmd = drag();
    cmd.env("DRAG_CACHE_DIR", cache).arg("cache").args(args);
    run(&mut cmd)
}

fn set_mtime(path: &Path, when: SystemTime) {
    std::fs::File::options()
        .append(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

fn blob_count(info: &str) -> u64 {
    count(info, "blobs: ")
}

fn count(info: &str, label: &str) -> u64 {
    let line = info
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("{info}"));
    line[label.len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn cache_info_counts_what_a_pull_stored() {
    let cache = filled_cache();
    let out = cache_cmd(&cache, &["info"]);
    out.assert_success();
    let text = out.stdout_text();
    assert!(text.contains(&cache.display().to_string()), "{text}");
    // config and two layers; the manifest is kept apart, per registry and repository
    assert_eq!(blob_count(&text), 3, "{text}");
    assert_eq!(count(&text, "manifests: "), 1, "{text}");
}

#[test]
fn cache_prune_keeps_at_most_the_given_size_and_clean_empties_it() {
    let cache = filled_cache();
    // Age every cached file, then make two of them the most recently used: a size that fits
    // exactly those two must keep them and drop everything older.
    let mut files = files_under(&cache);
    assert!(files.len() >= 4, "{files:?}");
    files.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let now = SystemTime::now();
    for (i, p) in files.iter().enumerate() {
        set_mtime(p, now - Duration::from_secs(3600 + 60 * i as u64));
    }
    let (newest, newer) = (&files[0], &files[files.len() - 1]);
    set_mtime(newest, now);
    set_mtime(newer, now - Duration::from_secs(10));
    let keep = std::fs::metadata(newest).unwrap().len() + std::fs::metadata(newer).unwrap().len();
    cache_cmd(&cache, &["prune", "--keep", &keep.to_string()]).assert_success();
    let mut left = files_under(&cache);
    left.sort();
    let mut expected = vec![newest.clone(), newer.clone()];
    expected.sort();
    assert_eq!(
        left, expected,
        "prune --keep {keep} keeps the two most recently used"
    );
    let info = cache_cmd(&cache, &["info"]).stdout_text();
    assert_eq!(blob_count(&info) + count(&info, "manifests: "), 2, "{info}");
    cache_cmd(&cache, &["prune", "--older-than", "0s"]).assert_success();
    cache_cmd(&cache, &["clean"]).assert_success();
    let emptied = cache_cmd(&cache, &["info"]).stdout_text();
    assert_eq!(blob_count(&emptied), 0);
    assert_eq!(count(&emptied, "manifests: "), 0);
    let bad = cache_cmd(&cache, &["prune", "--keep", "lots"]);
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    let none = cache_cmd(&cache, &["prune"]);
    assert_eq!(none.status.code(), Some(2), "{}", none.stderr);
}

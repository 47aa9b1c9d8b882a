//! What a user is told about platforms and names: `--platform` against an image that has only
//! one, the full names archives give images (so podman, Docker and containerd agree), and the
//! MCR adapter's messages when a tag or its platform is missing.

use drag_tests::archive::{assert_left_nothing, json_entry, read_tar};
use drag_tests::drag_cli::{fresh_dir, pull, pull_command};
use drag_tests::podman::Podman;
use drag_tests::{
    drag, run, Compression, DragOutput, FakeRegistry, Fault, Image, ImageBuilder, IndexBuilder,
    LayerBuilder, ManifestFormat,
};

fn image(os: &str, arch: &str, marker: &str) -> Image {
    ImageBuilder::new()
        .os(os)
        .arch(arch)
        .layer(
            LayerBuilder::new()
                .file("marker.txt", marker, 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// The last stderr line: the error, once drag has failed.
fn last_line(out: &DragOutput) -> String {
    out.stderr.lines().last().unwrap_or_default().to_string()
}

fn assert_fails_with(out: &DragOutput, words: &[&str]) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let last = last_line(out);
    for w in words {
        assert!(last.contains(w), "{w:?} missing from: {last}");
    }
    last
}

// --- `--platform` against a single-platform image -------------------------------------------

#[test]
fn asked_platform_that_a_single_image_does_not_run_fails_naming_the_images_own() {
    let registry = FakeRegistry::start();
    registry.push_image("app", "1", &image("linux", "amd64", "amd"));
    let reference = format!("{}/app:1", registry.host());
    let dir = fresh_dir("single-mismatch-");
    let out = pull(
        &dir,
        &["-o", "x.tar", "--platform", "linux/s390x", &reference],
    );
    let last = assert_fails_with(
        &out,
        &[
            &format!("{reference} is an image for linux/amd64 only, not linux/s390x"),
            "drop --platform to take it as it is",
        ],
    );
    assert!(!last.contains("available"), "{last}");
    assert_left_nothing(&dir);

    // inspect resolves as a pull does.
    let out = run(drag().args(["inspect", "--platform", "linux/s390x", &reference]));
    assert_fails_with(&out, &["is an image for linux/amd64 only, not linux/s390x"]);
}

#[test]
fn without_platform_a_single_image_of_any_platform_is_taken() {
    let registry = FakeRegistry::start();
    let arm = image("linux", "arm64", "arm");
    registry.push_image("app", "1", &arm);
    let dir = fresh_dir("single-default-");
    pull(
        &dir,
        &["-o", "x.tar", &format!("{}/app:1", registry.host())],
    )
    .assert_success();
    let manifest = json_entry(&read_tar(&dir.join("x.tar")), "manifest.json");
    assert_eq!(
        manifest[0]["Config"],
        drag_tests::archive::blob_path(&arm.config.digest)
    );
}

#[test]
fn asked_platform_that_a_single_image_runs_is_taken_with_variant_fallbacks() {
    let registry = FakeRegistry::start();
    registry.push_image("app", "arm64", &image("linux", "arm64", "arm64"));
    let v6 = ImageBuilder::new().arch("arm").variant("v6").build();
    registry.push_image("app", "v6", &v6);
    let dir = fresh_dir("single-match-");
    let host = registry.host();
    // An arm64 config without a variant is arm64/v8.
    pull(
        &dir,
        &[
            "-o",
            "a.tar",
            "--platform",
            "linux/arm64/v8",
            &format!("{host}/app:arm64"),
        ],
    )
    .assert_success();
    // An arm/v7 machine runs a v6 image, as with an index entry...
    pull(
        &dir,
        &[
            "-o",
            "b.tar",
            "--platform",
            "linux/arm/v7",
            &format!("{host}/app:v6"),
        ],
    )
    .assert_success();
    // ...but a v5 machine does not.
    let out = pull(
        &dir,
        &[
            "-o",
            "c.tar",
            "--platform",
            "linux/arm/v5",
            &format!("{host}/app:v6"),
        ],
    );
    assert_fails_with(
        &out,
        &["is an image for linux/arm/v6 only, not linux/arm/v5"],
    );
}

#[test]
fn asked_platform_checks_a_single_image_named_by_digest_too() {
    let registry = FakeRegistry::start();
    let amd = image("linux", "amd64", "amd");
    registry.push_image("app", "1", &amd);
    let reference = format!("{}/app@{}", registry.host(), amd.digest());
    let dir = fresh_dir("digest-mismatch-");
    let out = pull(
        &dir,
        &["-o", "x.tar", "--platform", "linux/arm64", &reference],
    );
    assert_fails_with(&out, &["is an image for linux/amd64 only, not linux/arm64"]);
}

// --- full names ----------------------------------------------------------------------------

fn hub_with_two_images() -> (FakeRegistry, Image, Image) {
    let registry = FakeRegistry::start();
    let alpine = image("linux", "amd64", "alpine");
    let tools = image("linux", "amd64", "tools");
    registry.push_image("library/alpine", "3.9", &alpine);
    registry.push_image("myorg/tools", "2", &tools);
    (registry, alpine, tools)
}

#[test]
fn archives_name_images_by_their_full_names_everywhere() {
    let (registry, _, _) = hub_with_two_images();
    let dir = fresh_dir("full-names-");
    pull(
        &dir,
        &[
            "-o",
            "bundle.tar",
            "--endpoint",
            &registry.url(),
            "alpine:3.9",
            "myorg/tools:2",
        ],
    )
    .assert_success();
    let tar = read_tar(&dir.join("bundle.tar"));
    let manifest = json_entry(&tar, "manifest.json");
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["docker.io/library/alpine:3.9"])
    );
    assert_eq!(
        manifest[1]["RepoTags"],
        serde_json::json!(["docker.io/myorg/tools:2"])
    );
    let index = json_entry(&tar, "index.json");
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "docker.io/library/alpine:3.9"
    );
    let repositories = json_entry(&tar, "repositories");
    assert!(
        repositories["docker.io/library/alpine"]["3.9"].is_string(),
        "{repositories}"
    );
    assert!(
        repositories["docker.io/myorg/tools"]["2"].is_string(),
        "{repositories}"
    );
}

#[test]
fn podman_loads_a_single_image_and_a_bundle_under_the_same_full_names() {
    let Some(single_store) = Podman::new() else {
        return;
    };
    let Some(bundle_store) = Podman::new() else {
        return;
    };
    let (registry, _, _) = hub_with_two_images();
    let dir = fresh_dir("podman-names-");
    let endpoint = registry.url();
    pull(
        &dir,
        &["-o", "single.tar", "--endpoint", &endpoint, "alpine:3.9"],
    )
    .assert_success();
    pull(
        &dir,
        &[
            "-o",
            "bundle.tar",
            "--endpoint",
            &endpoint,
            "alpine:3.9",
            "myorg/tools:2",
        ],
    )
    .assert_success();
    let single = single_store.load(&dir.join("single.tar"));
    let mut bundle = bundle_store.load(&dir.join("bundle.tar"));
    bundle.sort();
    assert_eq!(single, vec!["docker.io/library/alpine:3.9".to_string()]);
    assert_eq!(
        bundle,
        vec![
            "docker.io/library/alpine:3.9".to_string(),
            "docker.io/myorg/tools:2".to_string()
        ]
    );
}

// --- MCR messages --------------------------------------------------------------------------

/// MCR: anonymous, CDN redirects, tag list paginated two at a time.
fn mcr() -> FakeRegistry {
    FakeRegistry::builder().cdn(true).tags_page_size(2).start()
}

fn pull_mcr(registry: &FakeRegistry, dir: &std::path::Path, args: &[&str]) -> DragOutput {
    run(pull_command(dir)
        .args(["--registry", "mcr", "--endpoint", &registry.url()])
        .args(args))
}

fn windows(arch: &str, marker: &str) -> Image {
    ImageBuilder::new()
        .os("windows")
        .arch(arch)
        .os_version("10.0.17763.1")
        .layer(
            LayerBuilder::new()
                .file("Files/marker.txt", marker, 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// An index under `tag` that holds only `images`.
fn push_index(registry: &FakeRegistry, repo: &str, tag: &str, images: &[&Image]) {
    let mut index = IndexBuilder::new(ManifestFormat::Docker);
    for i in images {
        index = index.image(i);
    }
    registry.push_index(repo, tag, &index.build(), images);
}

const NANO: &str = "mcr.microsoft.com/windows/nanoserver";

fn assert_names_once(line: &str) {
    assert_eq!(line.matches(NANO).count(), 1, "{line}");
}

#[test]
fn mcr_missing_tag_says_it_does_not_exist_not_that_it_lacks_a_platform() {
    let registry = mcr();
    registry.push_image("windows/nanoserver", "1809-amd64", &windows("amd64", "x"));
    let dir = fresh_dir("mcr-missing-");
    let out = pull_mcr(&registry, &dir, &["windows/nanoserver:1803"]);
    let last = assert_fails_with(
        &out,
        &[
            "tag 1803 does not exist (MANIFEST_UNKNOWN), and there is no 1803-amd64 tag either",
            "closest tags: 1809-amd64",
        ],
    );
    assert!(!last.contains("has no"), "{last}");
    assert_names_once(&last);
    assert_left_nothing(&dir);
}

#[test]
fn mcr_tag_without_the_platform_names_the_platforms_it_has() {
    let registry = mcr();
    push_index(
        &registry,
        "windows/nanoserver",
        "1803",
        &[&windows("arm64", "a")],
    );
    let dir = fresh_dir("mcr-noplatform-");
    let out = pull_mcr(&registry, &dir, &["windows/nanoserver:1803"]);
    let last = assert_fails_with(
        &out,
        &[
            "tag 1803 has no windows/amd64 image (available: windows/arm64:10.0.17763.1), \
             and there is no 1803-amd64 tag either",
            "closest tags: 1803",
        ],
    );
    assert!(!last.contains("does not exist"), "{last}");
    assert_names_once(&last);
}

#[test]
fn mcr_fallback_note_tells_a_missing_tag_from_a_missing_platform() {
    let registry = mcr();
    registry.push_image("windows/nanoserver", "1803-amd64", &windows("amd64", "x"));
    push_index(
        &registry,
        "windows/nanoserver",
        "1809",
        &[&windows("arm64", "a")],
    );
    registry.push_image("windows/nanoserver", "1809-amd64", &windows("amd64", "y"));
    let dir = fresh_dir("mcr-notes-");

    let out = pull_mcr(&registry, &dir, &["-o", "a.tar", "windows/nanoserver:1803"]);
    out.assert_success();
    let note = out
        .stderr
        .lines()
        .find(|l| l.contains("using tag 1803-amd64"))
        .unwrap_or_else(|| panic!("no fallback note: {}", out.stderr));
    assert!(note.contains("tag 1803 does not exist"), "{note}");
    assert_names_once(note);

    let out = pull_mcr(&registry, &dir, &["-o", "b.tar", "windows/nanoserver:1809"]);
    out.assert_success();
    let note = out
        .stderr
        .lines()
        .find(|l| l.contains("using tag 1809-amd64"))
        .unwrap_or_else(|| panic!("no fallback note: {}", out.stderr));
    assert!(
        note.contains("tag 1809 has no windows/amd64 image (available: windows/arm64"),
        "{note}"
    );
    assert_names_once(note);
}

#[test]
fn mcr_asked_platform_a_single_image_lacks_falls_back_to_the_arch_tag() {
    let registry = mcr();
    registry.push_image("windows/nanoserver", "1803", &windows("amd64", "amd"));
    let arm = windows("arm64", "arm");
    registry.push_image("windows/nanoserver", "1803-arm64", &arm);
    let dir = fresh_dir("mcr-single-");
    let out = pull_mcr(
        &registry,
        &dir,
        &[
            "-o",
            "a.tar",
            "--platform",
            "windows/arm64",
            "windows/nanoserver:1803",
        ],
    );
    out.assert_success();
    assert!(
        out.stderr.contains(
            "tag 1803 has no windows/arm64 image (available: windows/amd64:10.0.17763.1); \
             using tag 1803-arm64"
        ),
        "{}",
        out.stderr
    );
    let manifest = json_entry(&read_tar(&dir.join("a.tar")), "manifest.json");
    assert_eq!(
        manifest[0]["Config"],
        drag_tests::archive::blob_path(&arm.config.digest)
    );
    assert_eq!(manifest[0]["RepoTags"][0], format!("{NANO}:1803"));
}

#[test]
fn mcr_failed_fallbacks_are_listed_in_one_line_naming_the_repository_once() {
    let registry = mcr();
    push_index(
        &registry,
        "windows/nanoserver",
        "1803-amd64",
        &[&windows("arm64", "a")],
    );
    let dir = fresh_dir("mcr-tried-");
    let out = pull_mcr(&registry, &dir, &["windows/nanoserver:1803"]);
    let last = assert_fails_with(
        &out,
        &[
            "tag 1803 does not exist (MANIFEST_UNKNOWN); tag 1803-amd64 has no windows/amd64 \
           image (available: windows/arm64:10.0.17763.1); closest tags: 1803-amd64",
        ],
    );
    assert_names_once(&last);
}

#[test]
fn mcr_misspelled_repository_reports_the_manifests_name_unknown() {
    let registry = mcr();
    registry.push_image("windows/nanoserver", "1803-amd64", &windows("amd64", "x"));
    // What MCR answers for a repository it does not have.
    registry.fault(Fault::ManifestErrors {
        status: 404,
        errors: vec![(
            "NAME_UNKNOWN".into(),
            "repository name not known to registry".into(),
        )],
        times: 1,
    });
    let dir = fresh_dir("mcr-typo-");
    let out = pull_mcr(&registry, &dir, &["windows/nanoservr:1803"]);
    let last = assert_fails_with(
        &out,
        &[
            "mcr.microsoft.com/windows/nanoservr:1803",
            "NAME_UNKNOWN: repository name not known to registry",
        ],
    );
    assert!(!last.contains("tags"), "{last}");
    assert!(
        !registry
            .requests()
            .iter()
            .any(|r| r.path().ends_with("/tags/list")),
        "a repository that does not exist has no tags to look through"
    );
}

#[test]
fn mcr_unreadable_tag_list_leaves_the_manifests_answer() {
    // A registry that says MANIFEST_UNKNOWN for a repository it does not have, and refuses
    // its tag list: the tag list's error is not the one the user asked about.
    let registry = mcr();
    let dir = fresh_dir("mcr-notags-");
    let out = pull_mcr(&registry, &dir, &["windows/nanoservr:1803"]);
    let last = assert_fails_with(
        &out,
        &["mcr.microsoft.com/windows/nanoservr: tag 1803 does not exist (MANIFEST_UNKNOWN)"],
    );
    assert!(!last.contains("tags of"), "{last}");
    assert!(!last.contains("NAME_UNKNOWN"), "{last}");
}

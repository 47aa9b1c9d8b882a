//! Docker Hub's pull limit: a warning when few pulls are left, a spent limit that fails at
//! once with what to do, per-second 429s still retried, and `drag ratelimit`, which asks with
//! HEAD requests only (Docker Hub does not count them).
//!
//! The fake registry plays Docker Hub's counting (see `fake_registry::pull_limit`); drag
//! reaches it through `--endpoint`, with names that the Docker Hub adapter serves.

use drag_tests::drag_cli::{drag, fresh_dir, pull};
use drag_tests::fake_registry::SPENT_MESSAGE;
use drag_tests::{
    run, AuthMode, Compression, FakeRegistry, Fault, Image, ImageBuilder, IndexBuilder,
    LayerBuilder, Listener, ManifestFormat, PullLimit, RecordedRequest,
};

fn image(arch: &str) -> Image {
    ImageBuilder::new()
        .arch(arch)
        .layer(
            LayerBuilder::new()
                .file("etc/motd", arch, 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// Docker Hub's behaviour (token auth) with a pull limit, serving `library/alpine:3.9`.
fn hub(limit: PullLimit) -> FakeRegistry {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::bearer())
        .pull_limit(limit)
        .start();
    registry.push_image("library/alpine", "3.9", &image("amd64"));
    registry
}

fn manifest_requests(registry: &FakeRegistry) -> Vec<RecordedRequest> {
    registry
        .requests()
        .into_iter()
        .filter(|r| r.listener == Listener::Registry && r.path().contains("/manifests/"))
        .collect()
}

/// Manifest GETs (what Docker Hub counts) that got past the token challenge (the first try
/// of each request is a 401). The cache's HEADs are left out.
fn counted_manifest_gets(registry: &FakeRegistry) -> Vec<RecordedRequest> {
    manifest_requests(registry)
        .into_iter()
        .filter(|r| r.method == "GET" && r.authorization.is_some())
        .collect()
}

const LOGIN_HINT: &str =
    "log in to raise the limit (drag login docker.io, docker login, or --user)";

#[test]
fn few_pulls_left_warn_once_saying_that_logging_in_raises_the_limit() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::bearer())
        .pull_limit(PullLimit::anonymous(5))
        .start();
    let (amd, arm) = (image("amd64"), image("arm64"));
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .image(&amd)
        .image(&arm)
        .build();
    registry.push_index("library/multi", "1", &index, &[&amd, &arm]);
    let dir = fresh_dir("ratelimit-low-");
    let out = pull(&dir, &["--endpoint", &registry.url(), "multi:1"]);
    out.assert_success();
    // Several manifest answers (the cache's HEAD, the index, the image), each with the count:
    // the warning comes once, with the count the first of them told.
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("Docker Hub pull"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    let left = warnings[0]
        .strip_prefix("drag: warning: ")
        .and_then(|w| w.split_once(" of 100 Docker Hub pulls left in this 6 h window"))
        .map(|(n, rest)| (n.parse::<u64>().unwrap(), rest));
    assert!(
        matches!(left, Some((3..=5, rest)) if rest == format!(" (for 192.0.2.7); {LOGIN_HINT}")),
        "{}",
        warnings[0]
    );
}

#[test]
fn plenty_of_pulls_left_say_nothing() {
    let registry = hub(PullLimit::anonymous(50));
    let dir = fresh_dir("ratelimit-plenty-");
    let out = pull(&dir, &["--endpoint", &registry.url(), "alpine:3.9"]);
    out.assert_success();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    assert!(!out.stderr.contains("Docker Hub"), "{}", out.stderr);
}

#[test]
fn a_spent_pull_limit_fails_at_once_saying_that_logging_in_raises_it_and_when_it_resets() {
    let registry = hub(PullLimit::anonymous(0));
    let dir = fresh_dir("ratelimit-spent-");
    let out = pull(&dir, &["--endpoint", &registry.url(), "alpine:3.9"]);
    out.assert_failure();
    assert_eq!(out.status.code(), Some(1));
    let counted = counted_manifest_gets(&registry);
    assert_eq!(
        counted.len(),
        1,
        "one manifest attempt, no retries: {counted:#?}"
    );
    let line = out.stderr.lines().last().unwrap_or_default();
    assert!(
        line.starts_with("drag: error: manifest docker.io/library/alpine:3.9: TOOMANYREQUESTS: You have reached your pull rate limit."),
        "{line}"
    );
    assert!(
        line.ends_with(
            "): Docker Hub's pull limit is spent (100 per 6 h for 192.0.2.7): log in to raise \
             it (drag login docker.io, docker login, or --user); it resets within 6 h"
        ),
        "{line}"
    );
    assert!(!line.contains("attempts"), "{line}");
}

#[test]
fn a_spent_pull_limit_told_only_by_its_message_fails_at_once_too() {
    let registry = hub(PullLimit {
        headers_when_spent: false,
        ..PullLimit::anonymous(0)
    });
    let dir = fresh_dir("ratelimit-spent-body-");
    let out = pull(&dir, &["--endpoint", &registry.url(), "alpine:3.9"]);
    out.assert_failure();
    assert_eq!(counted_manifest_gets(&registry).len(), 1);
    let line = out.stderr.lines().last().unwrap_or_default();
    assert!(line.contains(SPENT_MESSAGE), "{line}");
    assert!(
        line.ends_with(
            "): Docker Hub's pull limit is spent: log in to raise it (drag login docker.io, docker \
             login, or --user)"
        ),
        "{line}"
    );
}

#[test]
fn a_per_second_429_with_retry_after_is_retried_after_the_wait_it_asks() {
    let registry = hub(PullLimit::anonymous(50));
    registry.fault(Fault::ManifestStatus {
        status: 429,
        retry_after: Some(1),
        times: 2,
    });
    let dir = fresh_dir("ratelimit-busy-");
    let out = pull(&dir, &["--endpoint", &registry.url(), "alpine:3.9"]);
    out.assert_success();
    let gets = counted_manifest_gets(&registry);
    assert_eq!(gets.len(), 3, "two 429s, then the manifest: {gets:#?}");
    for pair in gets.windows(2) {
        let gap = pair[1].received_at - pair[0].received_at;
        // A lower bound only: a slow machine makes the gap longer, never shorter.
        assert!(gap.as_millis() >= 950, "Retry-After: 1 honoured: {gap:?}");
    }
}

/// A registry serving the image `drag ratelimit` asks about by default.
fn hub_for_ratelimit(limit: Option<PullLimit>) -> FakeRegistry {
    let mut builder = FakeRegistry::builder().auth(AuthMode::bearer());
    if let Some(limit) = limit {
        builder = builder.pull_limit(limit);
    }
    let registry = builder.start();
    registry.push_image("ratelimitpreview/test", "latest", &image("amd64"));
    registry
}

#[test]
fn drag_ratelimit_prints_the_figures_and_asks_with_head_requests_only() {
    let registry = hub_for_ratelimit(Some(PullLimit::anonymous(76)));
    for _ in 0..2 {
        let out = run(drag().args(["ratelimit", "--endpoint", &registry.url()]));
        out.assert_success();
        // Asking twice leaves the count where it was: HEADs are not counted.
        assert_eq!(
            out.stdout_text(),
            "limit 100 per 21600 s, remaining 76, source 192.0.2.7\n"
        );
        assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    }
    let manifests = manifest_requests(&registry);
    assert!(!manifests.is_empty());
    assert!(
        manifests.iter().all(|r| r.method == "HEAD"
            && r.path() == "/v2/ratelimitpreview/test/manifests/latest"),
        "{manifests:#?}"
    );
    assert!(
        registry
            .requests()
            .iter()
            .all(|r| r.method == "HEAD" || r.path().starts_with("/token")),
        "nothing but HEADs and tokens: {:#?}",
        registry.requests()
    );
}

#[test]
fn drag_ratelimit_json_gives_each_figure_and_null_for_what_was_not_said() {
    let registry = hub_for_ratelimit(Some(PullLimit::anonymous(3)));
    let out = run(drag().args(["ratelimit", "--json", "--endpoint", &registry.url()]));
    out.assert_success();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({
            "limit": 100,
            "window_seconds": 21600,
            "remaining": 3,
            "source": "192.0.2.7",
            "reset_seconds": null,
        })
    );
}

#[test]
fn drag_ratelimit_says_so_when_no_limit_is_reported() {
    let registry = hub_for_ratelimit(None);
    let out = run(drag().args(["ratelimit", "--endpoint", &registry.url()]));
    out.assert_success();
    assert_eq!(out.stdout_text(), "no pull limit reported\n");
    let json = run(drag().args(["ratelimit", "--json", "--endpoint", &registry.url()]));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        doc.as_object().unwrap().values().all(|v| v.is_null()),
        "{doc}"
    );
}

#[test]
fn drag_ratelimit_asks_about_the_image_given() {
    let registry = hub(PullLimit::anonymous(40));
    let out = run(drag().args(["ratelimit", "alpine:3.9", "--endpoint", &registry.url()]));
    out.assert_success();
    assert_eq!(
        out.stdout_text(),
        "limit 100 per 21600 s, remaining 40, source 192.0.2.7\n"
    );
    assert!(manifest_requests(&registry)
        .iter()
        .all(|r| r.method == "HEAD" && r.path() == "/v2/library/alpine/manifests/3.9"));
}

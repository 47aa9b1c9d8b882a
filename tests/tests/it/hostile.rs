//! Hostile registry traffic: endless tag lists, oversized tokens, absurd token lifetimes,
//! escape sequences in what a registry says, bodies that drip and servers that never answer.
//! drag must stay bounded in memory and time, never panic, and never let a registry drive the
//! terminal.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;

use drag_tests::archive::assert_left_nothing;
use drag_tests::drag_cli::{
    drag_bin, fresh_dir, pull, pull_command, run_with_timeout, with_drag_env,
};
use drag_tests::peak_memory::{drag_under_time, run_measured, Measured};
use drag_tests::{
    drag, require_tool, run, AuthMode, Compression, DragOutput, FakeRegistry, Fault, HostileServer,
    ImageBuilder, LayerBuilder, RecordedRequest, SilentServer, TokenField,
};

/// A hang guard only: a run still going after this is killed and the test fails. What the
/// tests check is counted from what the servers saw (requests, connections, and the time
/// between two of them), never the wall time of a spawned `drag`.
const BOUND: Duration = Duration::from_secs(60);

/// The tag-list pages `server` was asked for.
fn tag_pages(server: &HostileServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.path().ends_with("/tags/list"))
        .count()
}

/// The time between the first two of `times`, which must exist.
#[track_caller]
fn first_gap(times: &[Instant]) -> Duration {
    assert!(times.len() >= 2, "{} arrivals, wanted two", times.len());
    times[1] - times[0]
}

fn response(status: StatusCode, body: impl Into<Body>, headers: &[(&str, String)]) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in headers {
        r.headers_mut().insert(
            header::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    r
}

fn distribution_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"code": code, "message": message}]});
    response(status, body.to_string(), &[])
}

/// A tag list whose every page links to another (`?last=N+1`), forever; each page holds
/// `per_page` tags of about 100 characters (plus `padding` bytes of an ignored field), or the
/// same page links to itself when `same_url`.
fn endless_tags(per_page: usize, padding: usize, same_url: bool) -> Router {
    Router::new().fallback(move |req: Request| async move {
        let path = req.uri().path().to_string();
        if !path.ends_with("/tags/list") {
            return distribution_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "unknown");
        }
        let page: u64 = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("last="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let tags: Vec<String> = (0..per_page)
            .map(|i| format!("p{page}-{i}-{}", "x".repeat(90)))
            .collect();
        let body = serde_json::json!({"name": "r", "tags": tags, "pad": "y".repeat(padding)});
        let next = if same_url { page } else { page + 1 };
        let link = format!("<{path}?last={next}>; rel=\"next\"");
        response(StatusCode::OK, body.to_string(), &[("link", link)])
    })
}

fn tags(server: &HostileServer) -> DragOutput {
    let mut cmd = drag();
    cmd.args(["tags", "--endpoint", &server.url(), "r"]);
    run_with_timeout(&mut cmd, BOUND)
}

/// `drag tags` against `server` under `time -v`, so its peak memory can be bounded.
fn measured_tags(time: &std::path::Path, server: &HostileServer) -> Measured {
    let mut cmd = drag_under_time(time);
    cmd.args(["tags", "--endpoint", &server.url(), "r"]);
    run_measured(&mut cmd, BOUND)
}

#[test]
fn tags_stop_at_a_paginator_that_sends_the_same_page_forever() {
    let server = HostileServer::start(|_| endless_tags(100, 0, true));
    let out = tags(&server);
    out.assert_failure();
    assert!(out.stderr.contains("pagination loops"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "no partial list on stdout");
    // The first page, then its `?last=0` link, which links to itself: seen, so stop.
    let pages = tag_pages(&server);
    assert!(pages <= 3, "asked for {pages} pages of a loop");
}

#[test]
fn tags_from_an_endless_paginator_stop_at_the_tag_limit_in_little_memory() {
    let Some(time) = require_tool("time") else {
        return;
    };
    // 5,000 tags of ~100 bytes a page: without a total limit, memory grows ~0.5 MB a page.
    let server = HostileServer::start(|_| endless_tags(5_000, 0, false));
    let Measured { out, peak_rss } = measured_tags(&time, &server);
    assert!(!out.success(), "an endless tag list cannot succeed");
    assert!(
        out.stderr.contains("more than 100000 tags"),
        "{}",
        out.stderr
    );
    let pages = tag_pages(&server);
    eprintln!(
        "endless tag list: {pages} pages, peak RSS {} KiB",
        peak_rss >> 10
    );
    // 100,000 tags fill 20 pages; the one after them is where the limit is found.
    assert!(pages <= 21, "asked for {pages} pages of 5,000 tags");
    assert!(peak_rss < 150 << 20, "peak RSS {} KiB", peak_rss >> 10);
}

#[test]
fn tags_from_a_paginator_with_huge_pages_stop_at_the_byte_budget() {
    let Some(time) = require_tool("time") else {
        return;
    };
    // One tag and 4 MiB of padding a page: the byte budget, a total over pages, ends it.
    let server = HostileServer::start(|_| endless_tags(1, 4 << 20, false));
    let Measured { out, peak_rss } = measured_tags(&time, &server);
    let pages = tag_pages(&server);
    eprintln!(
        "huge tag pages: {pages} pages, peak RSS {} KiB",
        peak_rss >> 10
    );
    assert!(!out.success());
    assert!(
        out.stderr.contains("more than 16777216 bytes"),
        "{}",
        out.stderr
    );
    // 16 MiB hold four pages of 4 MiB; the fifth goes over.
    assert!(pages <= 5, "asked for {pages} pages of 4 MiB");
    assert!(peak_rss < 150 << 20, "peak RSS {} KiB", peak_rss >> 10);
}

#[test]
fn mcr_tag_fallback_with_an_endless_paginator_fails_bounded() {
    let server = HostileServer::start(|_| endless_tags(5_000, 0, false));
    let dir = fresh_dir("mcr-endless-");
    let mut cmd = pull_command(&dir);
    cmd.args([
        "--registry",
        "mcr",
        "--endpoint",
        &server.url(),
        "-o",
        "nano.tar",
        "windows/nanoserver:1803",
    ]);
    let out = run_with_timeout(&mut cmd, BOUND);
    out.assert_failure();
    assert!(
        out.stderr.contains("more than 100000 tags"),
        "{}",
        out.stderr
    );
    let pages = tag_pages(&server);
    assert!(pages <= 21, "asked for {pages} pages of 5,000 tags");
    assert_left_nothing(&dir);
}

/// A registry whose every request wants a Bearer token from its `/token`, which answers
/// with `token_body`.
fn token_service(token_body: fn() -> Body) -> impl FnOnce(String) -> Router {
    move |url: String| {
        Router::new().fallback(move |req: Request| {
            let url = url.clone();
            async move {
                if req.uri().path() == "/token" {
                    return response(StatusCode::OK, token_body(), &[]);
                }
                let challenge = format!("Bearer realm=\"{url}/token\",service=\"hostile\"");
                response(
                    StatusCode::UNAUTHORIZED,
                    "{}",
                    &[("www-authenticate", challenge)],
                )
            }
        })
    }
}

#[test]
fn an_oversized_token_response_is_refused() {
    // 4 MiB in 64 KiB pieces without Content-Length: the cap must hold while streaming.
    let server = HostileServer::start(token_service(|| {
        let piece = bytes::Bytes::from(vec![b' '; 64 << 10]);
        Body::from_stream(futures_util::stream::iter(
            (0..64).map(move |_| Ok::<_, std::io::Error>(piece.clone())),
        ))
    }));
    let mut cmd = drag();
    cmd.args(["inspect", "--raw", "--endpoint", &server.url(), "r:1"]);
    let out = run_with_timeout(&mut cmd, BOUND);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("token response") && out.stderr.contains("limit"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_token_lifetime_of_2_pow_64_minus_1_seconds_is_taken_without_panicking() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::Bearer {
            token_field: TokenField::Token,
            expires_in: Some(u64::MAX),
        })
        .start();
    let image = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("a", "a", 0o644)
                .build(Compression::Gzip),
        )
        .build();
    registry.push_image("library/app", "1", &image);
    let dir = fresh_dir("token-forever-");
    let out = pull(
        &dir,
        &["-o", "app.tar", "--endpoint", &registry.url(), "app:1"],
    );
    out.assert_success();
    assert!(!registry.token_requests().is_empty(), "a token was fetched");
    assert!(dir.join("app.tar").is_file());
}

/// What a hostile registry would like a terminal to do: clear the screen, go back to the
/// start of the line and print a green success line.
const INJECTION: &str = "\x1b[2J\r\x1b[32mdrag: pull complete\n";

fn assert_terminal_safe(stderr: &str) {
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "raw control characters on stderr: {stderr:?}"
    );
}

#[test]
fn registry_error_messages_are_escaped_and_cut_short() {
    let server = HostileServer::start(|_| {
        Router::new().fallback(|| async {
            let message = format!("{INJECTION}{}", "A".repeat(10_000));
            distribution_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN\x1b[31m", &message)
        })
    });
    let mut cmd = drag();
    cmd.args(["inspect", "--endpoint", &server.url(), "r:1"]);
    let out = run_with_timeout(&mut cmd, BOUND);
    assert_eq!(out.status.code(), Some(1));
    assert_terminal_safe(&out.stderr);
    assert!(
        out.stderr
            .contains("MANIFEST_UNKNOWN\\x1b[31m: \\x1b[2J\\r\\x1b[32mdrag: pull complete\\n"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    assert!(out.stderr.len() < 1000, "{} bytes", out.stderr.len());
}

#[test]
fn tags_that_are_not_tags_stay_off_stdout_and_are_shown_escaped() {
    let server = HostileServer::start(|_| {
        Router::new().fallback(|| async {
            let body = serde_json::json!({
                "name": "r",
                "tags": ["1.0", format!("{INJECTION}evil"), "latest"],
            });
            response(StatusCode::OK, body.to_string(), &[])
        })
    });
    let out = tags(&server);
    out.assert_success();
    assert_eq!(out.stdout_text(), "1.0\nlatest\n");
    assert_terminal_safe(&out.stderr);
    assert!(
        out.stderr.contains("left out 1 entries")
            && out
                .stderr
                .contains("\\x1b[2J\\r\\x1b[32mdrag: pull complete\\nevil"),
        "{}",
        out.stderr
    );
}

/// One small layer, served by a registry whose next two GETs of `which` blob drip.
fn dripping(which: impl Fn(&drag_tests::Image) -> String) -> (FakeRegistry, String) {
    let registry = FakeRegistry::start();
    let image = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("a", vec![7u8; 64 << 10], 0o644)
                .build(Compression::None),
        )
        .build();
    registry.push_image("library/app", "1", &image);
    let digest = which(&image);
    for _ in 0..2 {
        registry.fault(Fault::Drip {
            digest: digest.clone(),
            every_ms: 200,
        });
    }
    (registry, digest)
}

/// A body that sends a byte every 200 ms never trips a 30 s read timeout; 1000 bytes/s over
/// 2 s is the rule that stops it.
const SLOW: &[&str] = &[
    "--low-speed-limit",
    "1000",
    "--low-speed-time",
    "2",
    "--retries",
    "1",
];

/// The GETs of blob `digest` that `registry` received, in order, with when each arrived.
fn blob_gets(registry: &FakeRegistry, digest: &str) -> Vec<RecordedRequest> {
    registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path().ends_with(digest))
        .collect()
}

/// A drip is given up on after the `--low-speed-time` of 2 s in [`SLOW`], not at once and not
/// after the drip's own end: the retry comes at least about that long after the first GET
/// (less a little for scheduling), and well before a 30 s read timeout could fire.
#[track_caller]
fn assert_gave_up_after_low_speed_time(gets: &[RecordedRequest]) {
    let times: Vec<Instant> = gets.iter().map(|r| r.received_at).collect();
    let gap = first_gap(&times);
    assert!(
        gap >= Duration::from_millis(1500) && gap < Duration::from_secs(15),
        "retried {gap:?} after the first GET of a drip, with --low-speed-time 2"
    );
}

#[test]
fn a_dripping_layer_makes_pull_resume_then_fail_in_bounded_time() {
    let (registry, layer) = dripping(|i| i.layers[0].blob.digest.clone());
    let dir = fresh_dir("drip-pull-");
    let mut cmd = pull_command(&dir);
    cmd.args(["-o", "app.tar", "--endpoint", &registry.url()])
        .args(SLOW)
        .arg("app:1");
    let out = run_with_timeout(&mut cmd, BOUND);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("--low-speed-limit"), "{}", out.stderr);
    assert!(
        out.stderr.contains("resuming"),
        "resumed first: {}",
        out.stderr
    );
    let gets = blob_gets(&registry, &layer);
    assert_eq!(gets.len(), 2, "one GET and one resume: {gets:#?}");
    assert!(gets[1].range.is_some(), "the resume was a Range request");
    assert_gave_up_after_low_speed_time(&gets);
    assert!(registry.pending_faults().is_empty(), "both drips were met");
    assert_left_nothing(&dir);
}

#[test]
fn a_dripping_config_makes_inspect_fail_in_bounded_time() {
    let (registry, config) = dripping(|i| i.config.digest.clone());
    let mut cmd = drag();
    cmd.args(["inspect", "--endpoint", &registry.url()])
        .args(SLOW)
        .arg("app:1");
    let out = run_with_timeout(&mut cmd, BOUND);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("--low-speed-limit"), "{}", out.stderr);
    // A drip that low-speed detection missed would run for hours: the hang guard ends that
    // run and fails the test. A retry, if drag makes one, comes a low-speed time later.
    let gets = blob_gets(&registry, &config);
    assert!(
        !gets.is_empty() && gets.len() <= 2,
        "a GET and at most one retry (--retries 1): {gets:#?}"
    );
    if gets.len() == 2 {
        assert_gave_up_after_low_speed_time(&gets);
    }
}

#[test]
fn a_server_that_never_sends_headers_is_given_up_on() {
    let server = SilentServer::start();
    let mut cmd = drag();
    cmd.args([
        "inspect",
        "--endpoint",
        &server.url(),
        "--header-timeout",
        "1",
        "--retries",
        "1",
        "r:1",
    ]);
    let out = run_with_timeout(&mut cmd, BOUND);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("--header-timeout"), "{}", out.stderr);
    // Each request is tried once and retried once (the version probe and the manifest, at
    // most), and each new connection comes about a header timeout (1 s) after the one before:
    // not at once, and not after some longer timeout.
    let connections = server.connections();
    assert!(
        (2..=4).contains(&connections.len()),
        "{} connections: {connections:?}",
        connections.len()
    );
    for pair in connections.windows(2) {
        let gap = first_gap(pair);
        assert!(
            gap >= Duration::from_millis(800) && gap < Duration::from_secs(10),
            "a new connection {gap:?} after the last, with --header-timeout 1"
        );
    }
}

/// Runs `drag ARGS` with a terminal (a pty from util-linux `script`) as stdout and stderr:
/// what the terminal was sent.
fn on_a_terminal(script: &std::path::Path, args: &[&str]) -> DragOutput {
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    let line: Vec<String> = std::iter::once(drag_bin().display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| quote(&a))
        .collect();
    let mut cmd = with_drag_env(script);
    cmd.args(["-qec", &line.join(" "), "/dev/null"]);
    run_with_timeout(&mut cmd, BOUND)
}

#[test]
fn inspect_on_a_terminal_shows_a_hostile_manifest_and_config_escaped() {
    let Some(script) = require_tool("script") else {
        return;
    };
    let server = HostileServer::start(|_| {
        Router::new().fallback(|| async {
            let manifest = format!("{{\"schemaVersion\": 2, \"x\": \"{INJECTION}\"}}\n");
            response(StatusCode::OK, manifest, &[])
        })
    });
    let raw = on_a_terminal(
        &script,
        &["inspect", "--raw", "--endpoint", &server.url(), "r:1"],
    );
    raw.assert_success();
    let shown = raw.stdout_text();
    assert!(!shown.contains('\x1b'), "{shown:?}");
    assert!(
        shown.contains("\\x1b[2J\\r\\x1b[32mdrag: pull complete"),
        "{shown:?}"
    );

    // Piped, the same bytes as served.
    let mut cmd = drag();
    cmd.args(["inspect", "--raw", "--endpoint", &server.url(), "r:1"]);
    let piped = run(&mut cmd);
    assert!(String::from_utf8_lossy(&piped.stdout).contains(INJECTION));

    // JSON keeps what serde_json does not escape (C1 controls, bidi overrides) for a terminal.
    let registry = FakeRegistry::start();
    let label = "\u{9b}2J\u{202e}gnp.exe";
    let image = ImageBuilder::new()
        .label("hostile", label)
        .layer(
            LayerBuilder::new()
                .file("a", "a", 0o644)
                .build(Compression::Gzip),
        )
        .build();
    registry.push_image("library/app", "1", &image);
    let json = on_a_terminal(
        &script,
        &["inspect", "--endpoint", &registry.url(), "app:1"],
    );
    json.assert_success();
    let shown = json.stdout_text();
    assert!(
        !shown.contains('\u{9b}') && !shown.contains('\u{202e}'),
        "{shown:?}"
    );
    assert!(shown.contains("\\u009b2J\\u202egnp.exe"), "{shown:?}");
}

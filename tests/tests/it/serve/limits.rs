//! What hostile or many clients meet (4xx and a server still up, flat memory), and the TLS
//! and htpasswd options.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use drag_tests::bytes::noise;
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::drag_serve::arg;
use drag_tests::tools::tool;
use drag_tests::{
    http_client, require_tool, Compression, DragServe, FakeRegistry, Image, ImageBuilder,
    LayerBuilder, TestPki,
};

use super::{digest_in, get, header, sources};
/// Sends raw bytes on a new connection and returns what came back before it closed (or the
/// read timed out).
fn raw(host: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

#[test]
fn hostile_requests_get_4xx_and_it_keeps_serving() {
    let s = sources();
    let served = DragServe::start(&[arg(&s.path("alpine.tar")), "--header-timeout", "1"]);
    let host = served.host();
    let get = |target: &str| {
        raw(
            &host,
            format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    let hex = "0".repeat(64);
    for target in [
        "/v2/../../etc/passwd".to_string(),
        "/v2/library/alpine/blobs/sha256:../../../../etc/passwd".into(),
        "/v2/library/../../alpine/manifests/3.9".into(),
        "/v2/library/alpine/blobs/sha256:ABCDEF".into(),
        format!("/v2/library/alpine/blobs/sha256:{}", &hex[1..]),
        format!("/v2/library/alpine/blobs/md5:{hex}"),
        format!("/v2/library/alpine/blobs/sha256:{hex}"),
        "/v2/Library/alpine/manifests/3.9".into(),
        "/v2/library%2falpine/manifests/3.9".into(),
        "/v2/library/alpine/manifests/..".into(),
        format!("/v2/{}/tags/list", "a/".repeat(2000)),
        "/etc/passwd".into(),
        "*".into(),
    ] {
        let answer = get(&target);
        let status = status_of(&answer);
        assert!((400..500).contains(&status), "{target}: {answer}");
    }
    let huge = format!(
        "GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 << 10)
    );
    assert_eq!(status_of(&raw(&host, huge.as_bytes())), 431);
    assert_eq!(status_of(&raw(&host, b"\x00\x01\x02 junk\r\n\r\n")), 400);
    // A client that never finishes its headers is cut off, not waited for.
    let started = std::time::Instant::now();
    let answer = raw(&host, b"GET /v2/ HTTP/1.1\r\nHost: x\r\n");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "a slow client held the connection for {:?}: {answer:?}",
        started.elapsed()
    );
    assert_eq!(status_of(&get("/v2/")), 200, "still serving");
    let log = served.stderr();
    for said in [
        "connection closed: request headers not sent in time",
        "connection closed: request headers too large",
        "\"GET /v2/library/alpine/blobs/md5:",
    ] {
        assert!(log.contains(said), "{said} not logged:\n{log}");
    }
    assert_eq!(
        status_of(&get("/v2/library/alpine/manifests/3.9")),
        200,
        "still serving"
    );
}

/// An image of one uncompressed layer holding `mib` MiB of noise (from `seed`), pulled into
/// `big.tar` of a fresh directory named by `prefix`.
fn big_archive(mib: usize, seed: u64, prefix: &str) -> (Image, PathBuf) {
    let registry = FakeRegistry::start();
    let big = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("big", noise(mib << 20, seed), 0o644)
                .build(Compression::None),
        )
        .build();
    registry.push_image("big/image", "1", &big);
    let dir = fresh_dir(prefix);
    let reference = format!("{}/big/image:1", registry.host());
    pull(&dir, &["-q", "-o", "big.tar", &reference]).assert_success();
    (big, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_parallel_clients_keep_memory_flat() {
    let (big, dir) = big_archive(24, 7, "serve-memory-");
    let served = DragServe::start(&["-q", arg(&dir.join("big.tar"))]);
    let layer = big.layers[0].blob.clone();
    let url = format!("{}/v2/big/image/blobs/{}", served.url(), layer.digest);
    let mut clients = Vec::new();
    for _ in 0..16 {
        let url = url.clone();
        clients.push(tokio::spawn(async move {
            use futures_util::StreamExt;
            use sha2::Digest;
            let r = http_client()
                .get(&url)
                .timeout(Duration::from_secs(120))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let mut hasher = sha2::Sha256::new();
            let mut body = r.bytes_stream();
            while let Some(chunk) = body.next().await {
                hasher.update(chunk.unwrap());
            }
            let hex: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("sha256:{hex}")
        }));
    }
    for client in clients {
        assert_eq!(client.await.unwrap(), layer.digest);
    }
    let peak = served.peak_rss();
    eprintln!("drag serve peak RSS with 16 clients of a 24 MiB blob: {peak} bytes");
    assert!(peak < 64 << 20, "peak RSS {peak} bytes");
}

#[test]
fn tls_with_a_private_ca_serves_drag_pull_trusting_it() {
    let s = sources();
    let pki = TestPki::new();
    let served = DragServe::start(&[
        arg(&s.path("alpine.tar")),
        "--tls-cert",
        arg(&pki.file("server.cert")),
        "--tls-key",
        arg(&pki.file("server.key")),
    ]);
    assert!(served.url().starts_with("https://"), "{}", served.stderr());
    let dir = fresh_dir("serve-tls-");
    let certs = dir.join("certs");
    pki.write_certs_d(&certs, false);
    let reference = format!("{}/library/alpine:3.9", served.host());
    pull(
        &dir,
        &["-q", "--cert-dir", arg(&certs), "-o", "a.tar", &reference],
    )
    .assert_success();
    assert_eq!(digest_in(&dir.join("a.tar")), s.alpine.digest());
    // Not trusting the CA, the pull fails.
    let out = pull(&dir, &["-q", "--retries", "0", "-o", "b.tar", &reference]);
    out.assert_failure();
}

#[tokio::test(flavor = "multi_thread")]
async fn htpasswd_logins_are_required_and_checked() {
    let Some(htpasswd) = require_tool("htpasswd") else {
        return;
    };
    let s = sources();
    let dir = fresh_dir("serve-auth-");
    let file = dir.join("htpasswd");
    tool(
        &htpasswd,
        &["-B", "-b", "-c", arg(&file), "alice", "s3cret"],
    );
    let served = DragServe::start(&[arg(&s.path("alpine.tar")), "--htpasswd", arg(&file)]);
    let url = format!("{}/v2/library/alpine/manifests/3.9", served.url());
    let r = get(&url, &[]).await;
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").starts_with("Basic"));
    let r = http_client()
        .get(&url)
        .basic_auth("alice", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http_client()
        .get(&url)
        .basic_auth("alice", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let reference = format!("{}/library/alpine:3.9", served.host());
    let out = pull(
        &dir,
        &["-q", "--user", "alice:s3cret", "-o", "a.tar", &reference],
    );
    out.assert_success();
    let out = pull(
        &dir,
        &[
            "-q",
            "--retries",
            "0",
            "--user",
            "alice:nope",
            "-o",
            "b.tar",
            &reference,
        ],
    );
    out.assert_failure();

    // Hashes other than bcrypt are refused at startup, as distribution refuses them.
    let md5 = dir.join("md5");
    tool(&htpasswd, &["-m", "-b", "-c", arg(&md5), "bob", "pw"]);
    let err = DragServe::refused(&[arg(&s.path("alpine.tar")), "--htpasswd", arg(&md5)]);
    assert!(err.contains("only bcrypt"), "{err}");
}

#[test]
fn a_client_that_stops_reading_is_cut_off_and_others_are_served() {
    let (big, dir) = big_archive(16, 8, "serve-stall-");
    let served = DragServe::start(&[arg(&dir.join("big.tar")), "--stall-timeout", "1"]);
    // Asks for 16 MiB and reads none of it: more than the socket buffers take.
    let mut stalled = TcpStream::connect(served.host()).unwrap();
    let request = format!(
        "GET /v2/big/image/blobs/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        big.layers[0].blob.digest
    );
    stalled.write_all(request.as_bytes()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !served.stderr().contains("the client read nothing") {
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled connection was kept:\n{}",
            served.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let answer = raw(
        &served.host(),
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&answer), 200);
}

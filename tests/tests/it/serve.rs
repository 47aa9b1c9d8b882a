//! `drag serve`: archives and layouts served as a read-only registry. Real clients (drag pull,
//! skopeo, podman, docker, containerd's ctr) pull from it and get the original digests; the API
//! answers as distribution does (manifests with their own media type, blobs by range, paged
//! lists, referrers, writes refused); hostile requests get 4xx and it keeps serving; memory
//! stays flat under parallel clients; TLS and htpasswd logins work; several sources are one
//! union; SIGTERM stops it cleanly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use drag_core::image_source::ImageSource;
use drag_tests::bytes::noise;
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::drag_serve::arg;
use drag_tests::tools::{stdout_of, tool};
use drag_tests::{
    http_client, require_tool, response_json, sha256_digest, Compression, Dockerd, DragServe,
    FakeRegistry, Image, ImageBuilder, LayerBuilder, ManifestFormat, Podman, TestPki,
};

fn image(format: ManifestFormat, seed: u64, layer_bytes: usize) -> Image {
    ImageBuilder::new()
        .format(format)
        .layer(
            LayerBuilder::new()
                .file("bin/tool", noise(layer_bytes, seed), 0o755)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("data/blob", noise(layer_bytes / 2 + 1, seed + 1), 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// Archives made by `drag pull`: `alpine.tar` holding Docker Hub's `alpine` at three tags (a
/// Docker schema 2 image) and the layout `app` holding `org/app:1` (OCI), with their images.
struct Sources {
    dir: PathBuf,
    alpine: Image,
    app: Image,
    _registry: FakeRegistry,
}

impl Sources {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn sources() -> Sources {
    let registry = FakeRegistry::start();
    let alpine = image(ManifestFormat::Docker, 1, 40_000);
    let app = image(ManifestFormat::Oci, 10, 30_000);
    for tag in ["3.9", "3.10", "edge"] {
        registry.push_image("library/alpine", tag, &alpine);
    }
    registry.push_image("org/app", "1", &app);
    let dir = fresh_dir("serve-");
    pull(
        &dir,
        &[
            "-q",
            "--endpoint",
            &registry.url(),
            "-o",
            "alpine.tar",
            "alpine:3.9",
            "alpine:3.10",
            "alpine:edge",
        ],
    )
    .assert_success();
    pull(
        &dir,
        &[
            "-q",
            "--format",
            "oci",
            "-o",
            "app",
            &format!("{}/org/app:1", registry.host()),
        ],
    )
    .assert_success();
    Sources {
        dir,
        alpine,
        app,
        _registry: registry,
    }
}

fn serve(s: &Sources) -> DragServe {
    DragServe::start(&[arg(&s.path("alpine.tar")), arg(&s.path("app"))])
}

/// The digest of the one image of an archive or layout drag wrote.
fn digest_in(path: &Path) -> String {
    let source = ImageSource::open(path).expect("drag's output opens");
    let [image] = source.images() else {
        panic!("one image in {}", path.display())
    };
    image.manifest.digest.to_string()
}

#[test]
fn drag_pulls_the_original_digests_from_it_and_sigterm_stops_it() {
    let s = sources();
    let served = serve(&s);
    let listed = served.stderr();
    for name in ["library/alpine:3.9", "library/alpine:edge"] {
        assert!(
            listed.contains(&format!("{name} -> {}", s.alpine.digest())),
            "{listed}"
        );
    }
    assert!(
        listed.contains(&format!("org/app:1 -> {}", s.app.digest())),
        "{listed}"
    );
    let dir = fresh_dir("serve-back-");
    pull(
        &dir,
        &[
            "-q",
            "-o",
            "alpine.tar",
            &format!("{}/library/alpine:3.9", served.host()),
        ],
    )
    .assert_success();
    assert_eq!(digest_in(&dir.join("alpine.tar")), s.alpine.digest());
    pull(
        &dir,
        &[
            "-q",
            "--format",
            "oci",
            "-o",
            "app",
            &format!("{}/org/app:1", served.host()),
        ],
    )
    .assert_success();
    assert_eq!(digest_in(&dir.join("app")), s.app.digest());
    let (status, stderr) = served.stop(Duration::from_secs(15));
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains("\"GET /v2/library/alpine/manifests/3.9\" 200"),
        "one line per request: {stderr}"
    );
}

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = http_client().get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.expect("drag serve answers")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", r.headers()))
        .to_str()
        .unwrap()
}

async fn error_code(r: reqwest::Response) -> String {
    let body = response_json(r).await;
    body["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_and_blobs_are_served_as_stored_with_ranges() {
    let s = sources();
    let served = serve(&s);
    let base = format!("{}/v2", served.url());
    let r = get(&format!("{base}/"), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "docker-distribution-api-version"),
        "registry/2.0"
    );

    let url = format!("{base}/library/alpine/manifests/3.9");
    let head = http_client().head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "docker-content-digest"), s.alpine.digest());
    assert_eq!(
        header(&head, "content-type"),
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        header(&head, "content-length"),
        s.alpine.manifest.bytes.len().to_string()
    );
    let r = get(&url, &[]).await;
    assert_eq!(r.bytes().await.unwrap(), s.alpine.manifest.bytes);
    let r = get(&format!("{base}/org/app/manifests/{}", s.app.digest()), &[]).await;
    assert_eq!(
        header(&r, "content-type"),
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(r.bytes().await.unwrap(), s.app.manifest.bytes);
    // A client that does not take the stored type is told so rather than given it.
    let r = get(
        &url,
        &[("accept", "application/vnd.oci.image.index.v1+json")],
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");

    let layer = &s.alpine.layers[0].blob;
    let blob_url = format!("{base}/library/alpine/blobs/{}", layer.digest);
    let r = get(&blob_url, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "docker-content-digest"), layer.digest);
    assert!(r.bytes().await.unwrap() == layer.bytes);
    let size = layer.bytes.len();
    let r = get(&blob_url, &[("range", "bytes=10-1009")]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(header(&r, "content-range"), format!("bytes 10-1009/{size}"));
    assert!(r.bytes().await.unwrap() == layer.bytes[10..1010]);
    let r = get(&blob_url, &[("range", "bytes=-100")]).await;
    assert_eq!(r.status(), 206);
    assert!(r.bytes().await.unwrap() == layer.bytes[size - 100..]);
    for bad in [
        format!("bytes={size}-"),
        "bytes=9-3".into(),
        "lines=1-2".into(),
    ] {
        let r = get(&blob_url, &[("range", &bad)]).await;
        assert_eq!(r.status(), 416, "{bad}");
        assert_eq!(header(&r, "content-range"), format!("bytes */{size}"));
    }
    // From a layout directory as from a tar.
    let app_layer = &s.app.layers[1].blob;
    let r = get(
        &format!("{base}/org/app/blobs/{}", app_layer.digest),
        &[("range", "bytes=100-")],
    )
    .await;
    assert_eq!(r.status(), 206);
    assert!(r.bytes().await.unwrap() == app_layer.bytes[100..]);
    // Each repository answers for its own images' blobs only.
    let r = get(&format!("{base}/org/app/blobs/{}", layer.digest), &[]).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    let r = get(&format!("{base}/nothing/here/manifests/1"), &[]).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
    // containerd's mirror requests name the upstream registry: accepted.
    let r = get(&format!("{url}?ns=docker.io"), &[]).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_are_refused_with_unsupported() {
    let s = sources();
    let served = serve(&s);
    let base = format!("{}/v2/library/alpine", served.url());
    let client = http_client();
    let digest = s.alpine.digest();
    for request in [
        client.post(format!("{base}/blobs/uploads/")),
        client.put(format!("{base}/manifests/3.9")).body("{}"),
        client.delete(format!("{base}/manifests/{digest}")),
        client.patch(format!("{base}/blobs/uploads/1")).body("x"),
    ] {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(header(&r, "allow"), "GET, HEAD");
        let body = response_json(r).await;
        assert_eq!(body["errors"][0]["code"], "UNSUPPORTED");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("read-only"),
            "{body}"
        );
    }
    let r = get(&format!("{base}/manifests/3.9"), &[]).await;
    assert_eq!(r.status(), 200, "nothing was changed");
}

/// Follows `Link` headers from `first`, returning each page's `key` list.
async fn pages(first: String, key: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut next = Some(first);
    let origin = next
        .as_ref()
        .unwrap()
        .split("/v2/")
        .next()
        .unwrap()
        .to_string();
    while let Some(url) = next.take() {
        let r = get(&url, &[]).await;
        assert_eq!(r.status(), 200);
        next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            let path = l.trim_start_matches('<').split('>').next().unwrap();
            assert!(l.ends_with("rel=\"next\""), "{l}");
            format!("{origin}{path}")
        });
        let body = response_json(r).await;
        out.push(
            body[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect(),
        );
        assert!(out.len() < 10, "paging does not end");
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_and_the_catalogue_are_paged_with_n_last_and_link() {
    let s = sources();
    let served = serve(&s);
    let base = format!("{}/v2", served.url());
    let all = pages(format!("{base}/library/alpine/tags/list"), "tags").await;
    assert_eq!(all, [["3.10", "3.9", "edge"]]);
    let paged = pages(format!("{base}/library/alpine/tags/list?n=2"), "tags").await;
    assert_eq!(paged, [vec!["3.10", "3.9"], vec!["edge"]]);
    let after = pages(format!("{base}/library/alpine/tags/list?last=3.9"), "tags").await;
    assert_eq!(after, [["edge"]]);
    let catalog = pages(format!("{base}/_catalog?n=1"), "repositories").await;
    assert_eq!(catalog, [["library/alpine"], ["org/app"]]);
}

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

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_parallel_clients_keep_memory_flat() {
    let registry = FakeRegistry::start();
    let big = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("big", noise(24 << 20, 7), 0o644)
                .build(Compression::None),
        )
        .build();
    registry.push_image("big/image", "1", &big);
    let dir = fresh_dir("serve-memory-");
    pull(
        &dir,
        &[
            "-q",
            "-o",
            "big.tar",
            &format!("{}/big/image:1", registry.host()),
        ],
    )
    .assert_success();
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

/// Writes `bytes` as a blob of the layout at `dir`; its descriptor.
fn add_blob(dir: &Path, media_type: &str, bytes: &[u8]) -> serde_json::Value {
    let digest = sha256_digest(bytes);
    let path = dir
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    std::fs::write(path, bytes).unwrap();
    serde_json::json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
}

#[tokio::test(flavor = "multi_thread")]
async fn referrers_list_the_manifests_whose_subject_is_asked_for() {
    let s = sources();
    let layout = s.path("app");
    // An SBOM for org/app:1, written into the layout as `oras attach` would push it.
    let empty = add_blob(&layout, "application/vnd.oci.empty.v1+json", b"{}");
    let sbom = add_blob(
        &layout,
        "application/spdx+json",
        b"{\"spdxVersion\":\"SPDX-2.3\"}",
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": empty,
        "layers": [sbom],
        "subject": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": s.app.digest(),
            "size": s.app.manifest.bytes.len(),
        },
        "annotations": {"org.example.kind": "sbom"},
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let desc = add_blob(
        &layout,
        "application/vnd.oci.image.manifest.v1+json",
        &bytes,
    );
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(desc.clone());
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();

    let served = serve(&s);
    let base = format!("{}/v2/org/app", served.url());
    let r = get(&format!("{base}/referrers/{}", s.app.digest()), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "content-type"),
        "application/vnd.oci.image.index.v1+json"
    );
    let body = response_json(r).await;
    let entries = body["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{body}");
    assert_eq!(entries[0]["digest"], desc["digest"]);
    assert_eq!(entries[0]["artifactType"], "application/spdx+json");
    assert_eq!(entries[0]["annotations"]["org.example.kind"], "sbom");
    let r = get(
        &format!(
            "{base}/referrers/{}?artifactType=application/vnd.example.other",
            s.app.digest()
        ),
        &[],
    )
    .await;
    assert_eq!(header(&r, "oci-filters-applied"), "artifactType");
    assert_eq!(response_json(r).await["manifests"], serde_json::json!([]));
    // The referrer itself is served from its subject's repository.
    let r = get(
        &format!("{base}/manifests/{}", desc["digest"].as_str().unwrap()),
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), bytes);
    // An image nothing refers to has none.
    let r = get(
        &format!(
            "{}/v2/library/alpine/referrers/{}",
            served.url(),
            s.alpine.digest()
        ),
        &[],
    )
    .await;
    assert_eq!(response_json(r).await["manifests"], serde_json::json!([]));
}

/// Copies a layout directory.
fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sources_each_holding_part_of_the_blobs_serve_whole_images() {
    let s = sources();
    let first = s.path("first");
    let second = s.path("second");
    copy_dir(&s.path("app"), &first);
    copy_dir(&s.path("app"), &second);
    let blob_path = |dir: &Path, digest: &str| {
        dir.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let layers: Vec<String> = s.app.layers.iter().map(|l| l.blob.digest.clone()).collect();
    std::fs::remove_file(blob_path(&first, &layers[0])).unwrap();
    std::fs::remove_file(blob_path(&second, &layers[1])).unwrap();

    // Alone, the first source lists the image; the blob it lacks answers 404.
    let alone = DragServe::start(&[arg(&first)]);
    assert!(
        alone.stderr().contains("org/app:1 -> ") && alone.stderr().contains("1 blobs in no source"),
        "{}",
        alone.stderr()
    );
    let r = get(
        &format!("{}/v2/org/app/blobs/{}", alone.url(), layers[0]),
        &[],
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    drop(alone);

    let union = DragServe::start(&[arg(&first), arg(&second)]);
    let dir = fresh_dir("serve-union-");
    pull(
        &dir,
        &[
            "-q",
            "-o",
            "app.tar",
            &format!("{}/org/app:1", union.host()),
        ],
    )
    .assert_success();
    assert_eq!(digest_in(&dir.join("app.tar")), s.app.digest());
}

#[test]
fn a_decompressed_archive_serves_its_layers_as_stored() {
    let registry = FakeRegistry::start();
    let img = image(ManifestFormat::Docker, 20, 20_000);
    registry.push_image("org/plain", "1", &img);
    let dir = fresh_dir("serve-plain-");
    pull(
        &dir,
        &[
            "-q",
            "--decompress",
            "-o",
            "plain.tar",
            &format!("{}/org/plain:1", registry.host()),
        ],
    )
    .assert_success();
    let stored = digest_in(&dir.join("plain.tar"));
    let served = DragServe::start(&[arg(&dir.join("plain.tar"))]);
    pull(
        &dir,
        &[
            "-q",
            "-o",
            "back.tar",
            &format!("{}/org/plain:1", served.host()),
        ],
    )
    .assert_success();
    assert_eq!(digest_in(&dir.join("back.tar")), stored);
}

#[test]
fn skopeo_copies_the_original_digest() {
    let Some(skopeo) = require_tool("skopeo") else {
        return;
    };
    let s = sources();
    let served = serve(&s);
    let dir = fresh_dir("serve-skopeo-");
    let out = dir.join("layout");
    tool(
        &skopeo,
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/org/app:1", served.host()),
            &format!("oci:{}:app", out.display()),
        ],
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], s.app.digest());
    let raw = tool(
        &skopeo,
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/library/alpine:3.9", served.host()),
        ],
    );
    assert_eq!(raw.as_bytes(), &s.alpine.manifest.bytes[..]);
}

#[test]
fn podman_pulls_the_original_digest() {
    let Some(podman) = Podman::new() else {
        return;
    };
    let s = sources();
    let served = serve(&s);
    let reference = format!("{}/library/alpine:3.9", served.host());
    podman.run(&["pull", "-q", "--tls-verify=false", &reference]);
    let digest = podman.run(&["image", "inspect", "--format", "{{.Digest}}", &reference]);
    assert_eq!(digest.trim(), s.alpine.digest());
    assert_eq!(
        podman.diff_ids(&reference),
        serde_json::json!(s.alpine.diff_ids())
    );
}

#[test]
fn docker_pulls_the_original_digest() {
    let Some(dockerd) = Dockerd::shared() else {
        return;
    };
    let s = sources();
    let served = serve(&s);
    let reference = format!("{}/library/alpine:3.9", served.host());
    dockerd.docker(&["pull", "-q", &reference]);
    let digests = dockerd.docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &reference,
    ]);
    assert!(
        digests.contains(&format!(
            "{}/library/alpine@{}",
            served.host(),
            s.alpine.digest()
        )),
        "{digests}"
    );
    assert_eq!(dockerd.diff_ids(&reference), s.alpine.diff_ids());
}

/// `ctr` talking to the shared dockerd's containerd, in a namespace of its own.
fn ctr(dockerd: &Dockerd, ctr: &Path, args: &[&str]) -> String {
    stdout_of(
        std::process::Command::new(ctr)
            .arg("--address")
            .arg(dockerd.containerd_socket())
            .args(["--namespace", "drag-serve-tests"])
            .args(args),
    )
}

#[test]
fn containerd_pulls_the_original_digest_directly_and_as_a_docker_hub_mirror() {
    let Some(ctr_bin) = require_tool("ctr") else {
        return;
    };
    let Some(dockerd) = Dockerd::shared() else {
        return;
    };
    let s = sources();
    let served = serve(&s);
    let reference = format!("{}/library/alpine:3.9", served.host());
    ctr(
        dockerd,
        &ctr_bin,
        &["content", "fetch", "--plain-http", &reference],
    );
    let images = ctr(dockerd, &ctr_bin, &["images", "ls"]);
    assert!(
        images
            .lines()
            .any(|l| l.starts_with(&reference) && l.contains(s.alpine.digest())),
        "{images}"
    );

    // The README's hosts.toml: Docker Hub's images through drag serve.
    let hosts = fresh_dir("serve-hosts-");
    std::fs::create_dir_all(hosts.join("docker.io")).unwrap();
    std::fs::write(
        hosts.join("docker.io/hosts.toml"),
        format!(
            "server = \"https://registry-1.docker.io\"\n\n[host.\"http://{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            served.host()
        ),
    )
    .unwrap();
    ctr(
        dockerd,
        &ctr_bin,
        &[
            "content",
            "fetch",
            "--hosts-dir",
            arg(&hosts),
            "docker.io/library/alpine:edge",
        ],
    );
    let images = ctr(dockerd, &ctr_bin, &["images", "ls"]);
    assert!(
        images.lines().any(
            |l| l.starts_with("docker.io/library/alpine:edge") && l.contains(s.alpine.digest())
        ),
        "{images}"
    );
    assert!(
        served
            .stderr()
            .contains("/v2/library/alpine/manifests/edge?ns=docker.io"),
        "{}",
        served.stderr()
    );
}

#[test]
fn docker_uses_it_as_a_registry_mirror_from_daemon_json() {
    let (Some(dockerd_bin), Some(docker_bin)) = (require_tool("dockerd"), require_tool("docker"))
    else {
        return;
    };
    let s = sources();
    let served = serve(&s);
    let dir = fresh_dir("serve-mirror-");
    let config = dir.join("daemon.json");
    std::fs::write(
        &config,
        format!("{{\"registry-mirrors\": [\"http://{}\"]}}\n", served.host()),
    )
    .unwrap();
    let daemon = match Dockerd::start_with(
        &dockerd_bin,
        &docker_bin,
        &[format!("--config-file={}", config.display())],
    ) {
        Ok(d) => d,
        Err(why) => {
            drag_tests::tools::skip(why);
            return;
        }
    };
    // No network here: the pull can only succeed through the mirror.
    daemon.docker(&["pull", "-q", "alpine:3.10"]);
    let digests = daemon.docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        "alpine:3.10",
    ]);
    assert!(
        digests.contains(&format!("alpine@{}", s.alpine.digest())),
        "{digests}"
    );
    assert!(
        served
            .stderr()
            .contains("/v2/library/alpine/manifests/3.10\" 200"),
        "{}",
        served.stderr()
    );
}

/// Rewrites the names of the one image of the layout at `dir`: `io.containerd.image.name` set
/// to `full` (or removed), the tag kept.
fn rename_layout(dir: &Path, full: Option<&str>) {
    let path = dir.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let annotations = index["manifests"][0]["annotations"]
        .as_object_mut()
        .unwrap();
    match full {
        Some(name) => annotations.insert("io.containerd.image.name".into(), name.into()),
        None => annotations.remove("io.containerd.image.name"),
    };
    std::fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn names_drop_or_keep_the_host_and_unnamed_images_take_their_sources_name() {
    let s = sources();
    // skopeo's `oci:DIR:TAG` names an image by its tag only.
    let tagged = s.path("My Layout");
    copy_dir(&s.path("app"), &tagged);
    rename_layout(&tagged, None);
    // `docker save` writes familiar names; a later source giving a tag another image wins it.
    let familiar = s.path("familiar");
    copy_dir(&s.path("app"), &familiar);
    rename_layout(&familiar, Some("alpine:3.9"));
    let served = DragServe::start(&[arg(&s.path("alpine.tar")), arg(&tagged), arg(&familiar)]);
    let listed = served.stderr();
    assert!(
        listed.contains(&format!("my-layout:1 -> {}", s.app.digest())),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("library/alpine:3.9 -> {}", s.app.digest()))
            && listed.contains("note: library/alpine:3.9 is"),
        "{listed}"
    );
    let base = format!("{}/v2", served.url());
    let digest_of = |r: &reqwest::Response| header(r, "docker-content-digest").to_string();
    let r = get(&format!("{base}/my-layout/manifests/1"), &[]).await;
    assert_eq!(digest_of(&r), s.app.digest());
    let r = get(&format!("{base}/library/alpine/manifests/3.9"), &[]).await;
    assert_eq!(digest_of(&r), s.app.digest());
    let r = get(&format!("{base}/library/alpine/manifests/3.10"), &[]).await;
    assert_eq!(digest_of(&r), s.alpine.digest());
    let r = get(
        &format!("{base}/library/alpine/manifests/{}", s.alpine.digest()),
        &[],
    )
    .await;
    assert_eq!(
        r.status(),
        200,
        "the image the tag left is still there by digest"
    );
    drop(served);

    let kept = DragServe::start(&[arg(&s.path("alpine.tar")), "--keep-host"]);
    let base = format!("{}/v2", kept.url());
    let r = get(
        &format!("{base}/docker.io/library/alpine/manifests/3.9"),
        &[],
    )
    .await;
    assert_eq!(digest_of(&r), s.alpine.digest());
    let r = get(
        &format!("{base}/library/alpine/manifests/3.9?ns=docker.io"),
        &[],
    )
    .await;
    assert_eq!(digest_of(&r), s.alpine.digest());
    let r = get(&format!("{base}/library/alpine/manifests/3.9"), &[]).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_blob_is_cut_off_and_logged_not_served_whole() {
    let s = sources();
    let layout = s.path("corrupt");
    copy_dir(&s.path("app"), &layout);
    let layer = &s.app.layers[0].blob;
    let path = layout
        .join("blobs/sha256")
        .join(layer.digest.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let served = DragServe::start(&[arg(&layout)]);
    let sent = http_client()
        .get(format!(
            "{}/v2/org/app/blobs/{}",
            served.url(),
            layer.digest
        ))
        .send()
        .await;
    // Headers may or may not have gone out before the check failed; a whole body must not.
    if let Ok(r) = sent {
        if let Ok(body) = r.bytes().await {
            assert!(body.len() < bytes.len(), "the whole corrupt blob was sent");
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        served.stderr().contains("digest mismatch"),
        "{}",
        served.stderr()
    );
}

#[test]
fn a_docker_save_archive_is_served_under_its_familiar_name_with_its_image_id() {
    let Some(dockerd) = Dockerd::shared() else {
        return;
    };
    let s = sources();
    // A name of this test's own in the shared daemon.
    let registry = FakeRegistry::start();
    registry.push_image("library/servesave", "1", &s.alpine);
    let dir = fresh_dir("serve-saved-");
    pull(
        &dir,
        &[
            "-q",
            "--endpoint",
            &registry.url(),
            "-o",
            "in.tar",
            "servesave:1",
        ],
    )
    .assert_success();
    dockerd.load(&dir.join("in.tar"));
    let saved = dir.join("saved.tar");
    dockerd.docker(&["save", "-o", arg(&saved), "servesave:1"]);
    let served = DragServe::start(&[arg(&saved)]);
    assert!(
        served.stderr().contains("library/servesave:1 -> "),
        "{}",
        served.stderr()
    );
    pull(
        &dir,
        &[
            "-q",
            "-o",
            "back.tar",
            &format!("{}/library/servesave:1", served.host()),
        ],
    )
    .assert_success();
    let back = ImageSource::open(&dir.join("back.tar")).unwrap();
    let config = back.images()[0].config.as_ref().unwrap();
    assert_eq!(config.digest.to_string(), s.alpine.config.digest);
}

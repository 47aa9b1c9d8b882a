//! `drag serve`: archives and layouts served as a read-only registry. Real clients (drag pull,
//! skopeo, podman, docker, containerd's ctr) pull from it and get the original digests; the API
//! answers as distribution does (manifests with their own media type, blobs by range, paged
//! lists, referrers, writes refused); hostile requests get 4xx and it keeps serving; memory
//! stays flat under parallel clients; TLS and htpasswd logins work; several sources are one
//! union; SIGTERM stops it cleanly.
//!
//! The fixtures are here; [`api`] checks the protocol, [`sources`] what is served from which
//! archive or layout and under which name, [`clients`] real clients pulling, [`limits`] what
//! hostile or many clients and the TLS and login options meet.

mod api;
mod clients;
mod limits;
mod sources;

use std::path::{Path, PathBuf};

use drag_core::image_source::ImageSource;
use drag_tests::bytes::noise;
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::drag_serve::arg;
use drag_tests::{
    http_client, response_json, Compression, DragServe, FakeRegistry, Image, ImageBuilder,
    LayerBuilder, ManifestFormat,
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

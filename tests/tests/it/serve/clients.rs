//! Real clients pull from `drag serve` and get the original digests: drag, skopeo, podman,
//! docker (directly and through `registry-mirrors`), containerd's ctr (directly and through
//! `hosts.toml`); a `docker save` archive is served under its familiar name.

use std::path::Path;
use std::time::Duration;

use drag_core::image_source::ImageSource;
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::drag_serve::arg;
use drag_tests::tools::{stdout_of, tool};
use drag_tests::{require_tool, Dockerd, DragServe, FakeRegistry, Podman};

use super::{digest_in, serve, sources};
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

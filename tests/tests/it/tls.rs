//! Registries behind a private CA, as in closed networks: the real `docker-registry` serving
//! HTTPS with a certificate nothing trusts until the user says so, through each of the ways
//! Docker, podman and skopeo users already say it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use drag_tests::archive::assert_archive_holds_image;
use drag_tests::drag_cli::{fresh_dir, with_drag_env};
use drag_tests::tools::require_tool;
use drag_tests::{
    drag, drag_bin, run, Compression, DragOutput, FakeRegistry, Image, ImageBuilder, LayerBuilder,
    RealRegistry, TestPki,
};

fn small_image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("etc/motd", "behind a private CA\n", 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// Pulls `reference` into `dir/NAME.tar`, with `extra` arguments after `pull`, on a command
/// whose environment the caller may have set.
fn pull_to(
    mut command: Command,
    dir: &Path,
    name: &str,
    reference: &str,
    extra: &[&OsStr],
) -> DragOutput {
    let out = format!("{name}.tar");
    run(command
        .current_dir(dir)
        .args(["pull", "-q", "-o", &out])
        .args(extra)
        .arg(reference))
}

fn assert_holds(dir: &Path, name: &str, image: &Image) {
    assert_archive_holds_image(&dir.join(format!("{name}.tar")), image);
}

/// Failed TLS handshakes the registry has logged: one per connection drag gave up on.
fn handshake_failures(registry: &RealRegistry) -> usize {
    registry
        .log()
        .lines()
        .filter(|l| l.contains("TLS handshake error"))
        .count()
}

/// Handshake failures since `before`, once the registry has logged them all (it logs as the
/// client's alert arrives, which may trail the client's exit).
fn settled_handshake_failures(registry: &RealRegistry, before: usize) -> usize {
    let mut last = handshake_failures(registry);
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        let now = handshake_failures(registry);
        if now == last && now > before {
            return now - before;
        }
        last = now;
    }
    panic!("no TLS handshake failure logged:\n{}", registry.log());
}

/// A TLS registry holding `small_image()` as `corp/app:1`, and a directory to pull into.
struct Scene {
    pki: TestPki,
    registry: RealRegistry,
    image: Image,
    reference: String,
    dir: PathBuf,
}

/// `None` (skipped) without `docker-registry`.
async fn scene(require_client_cert: bool) -> Option<Scene> {
    let pki = TestPki::new();
    let registry = RealRegistry::start_tls(&pki, require_client_cert).await?;
    let image = small_image();
    registry.push_image("corp/app", "1", &image).await;
    Some(Scene {
        reference: format!("{}/corp/app:1", registry.host()),
        dir: fresh_dir("tls-"),
        pki,
        registry,
        image,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_is_refused_until_trusted_by_cert_dir_certs_d_or_ssl_cert_file() {
    let Some(Scene {
        pki,
        registry,
        image,
        reference,
        dir,
    }) = scene(false).await
    else {
        return;
    };

    // Untrusted: one clear line that says how to fix it, no retries, no output.
    let before = handshake_failures(&registry);
    let refused = pull_to(drag(), &dir, "refused", &reference, &[]);
    refused.assert_failure();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        refused.stderr.contains("not trusted") && refused.stderr.contains("--cert-dir"),
        "stderr: {}",
        refused.stderr
    );
    assert_eq!(
        refused.stderr.trim().lines().count(),
        1,
        "{}",
        refused.stderr
    );
    assert!(!dir.join("refused.tar").exists());
    // Counted, not timed: the default retry policy makes no more connections than none.
    let with_retries = settled_handshake_failures(&registry, before);
    let before = handshake_failures(&registry);
    let retries_0 = [OsStr::new("--retries"), OsStr::new("0")];
    pull_to(drag(), &dir, "refused", &reference, &retries_0).assert_failure();
    let without_retries = settled_handshake_failures(&registry, before);
    assert_eq!(
        with_retries, without_retries,
        "a certificate error is not worth retrying"
    );

    // skopeo's --cert-dir.
    let cert_dir = dir.join("certs");
    pki.write_certs_d(&cert_dir, false);
    let cert_dir_flag = [OsStr::new("--cert-dir"), cert_dir.as_os_str()];
    pull_to(drag(), &dir, "cert-dir", &reference, &cert_dir_flag).assert_success();
    assert_holds(&dir, "cert-dir", &image);

    // The certs.d directory podman and skopeo read, found by host and port.
    let config_home = dir.join("config");
    pki.write_certs_d(
        &config_home.join("containers/certs.d").join(registry.host()),
        false,
    );
    let mut via_certs_d = drag();
    via_certs_d.env("XDG_CONFIG_HOME", &config_home);
    pull_to(via_certs_d, &dir, "certs-d", &reference, &[]).assert_success();
    assert_holds(&dir, "certs-d", &image);

    // The system trust store, redirected as OpenSSL users do.
    let mut via_env = drag();
    via_env.env("SSL_CERT_FILE", pki.file("ca.crt"));
    pull_to(via_env, &dir, "ssl-cert-file", &reference, &[]).assert_success();
    assert_holds(&dir, "ssl-cert-file", &image);

    // inspect and tags share the same trust.
    let inspect = run(drag()
        .args(["inspect", "--cert-dir"])
        .arg(&cert_dir)
        .arg(&reference));
    inspect.assert_success();
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("JSON");
    assert_eq!(json["digest"], image.digest());
    let tags = run(drag()
        .args(["tags", "--cert-dir"])
        .arg(&cert_dir)
        .arg(&reference));
    tags.assert_success();
    assert_eq!(tags.stdout_text().trim(), "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn insecure_skips_verification() {
    // Bind every field: what a pattern leaves out is dropped at once, registry included.
    let Some(Scene {
        pki: _pki,
        registry: _registry,
        image,
        reference,
        dir,
    }) = scene(false).await
    else {
        return;
    };
    pull_to(drag(), &dir, "app", &reference, &[OsStr::new("--insecure")]).assert_success();
    assert_holds(&dir, "app", &image);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_that_wants_a_client_certificate_gets_the_one_in_certs_d() {
    let Some(Scene {
        pki,
        registry: _registry,
        image,
        reference,
        dir,
    }) = scene(true).await
    else {
        return;
    };

    let ca_only = dir.join("ca-only");
    pki.write_certs_d(&ca_only, false);
    let refused = pull_to(
        drag(),
        &dir,
        "refused",
        &reference,
        &[OsStr::new("--cert-dir"), ca_only.as_os_str()],
    );
    refused.assert_failure();
    assert!(
        refused.stderr.contains("client certificate"),
        "stderr: {}",
        refused.stderr
    );
    assert!(!dir.join("refused.tar").exists());

    // A key that is not the certificate's is refused before any connection, naming the file.
    let mismatched = dir.join("mismatched");
    pki.write_certs_d(&mismatched, true);
    std::fs::copy(pki.file("server.key"), mismatched.join("client.key")).unwrap();
    let refused = pull_to(
        drag(),
        &dir,
        "refused",
        &reference,
        &[OsStr::new("--cert-dir"), mismatched.as_os_str()],
    );
    refused.assert_failure();
    assert!(
        refused.stderr.contains("client.key") && refused.stderr.contains("client certificate"),
        "stderr: {}",
        refused.stderr
    );
    assert!(!dir.join("refused.tar").exists());

    let with_client = dir.join("with-client");
    pki.write_certs_d(&with_client, true);
    pull_to(
        drag(),
        &dir,
        "app",
        &reference,
        &[OsStr::new("--cert-dir"), with_client.as_os_str()],
    )
    .assert_success();
    assert_holds(&dir, "app", &image);
}

/// How many times a drag run under strace opened `file`, and the run's output. The command's
/// environment is drag's test environment plus `env`.
fn opens_of(
    strace: &Path,
    file: &Path,
    env: &[(&str, &OsStr)],
    dir: &Path,
    args: &[&OsStr],
) -> (usize, DragOutput) {
    let log = fresh_dir("tls-strace-").join("strace.log");
    let mut command = with_drag_env(strace);
    command.envs(env.iter().copied());
    let out = run(command
        .current_dir(dir)
        .args(["-f", "-qq", "-e", "trace=open,openat,openat2", "-o"])
        .arg(&log)
        .arg(drag_bin())
        .args(args));
    let trace = std::fs::read_to_string(&log).unwrap();
    let quoted = format!("\"{}\"", file.display());
    (trace.lines().filter(|l| l.contains(&quoted)).count(), out)
}

/// Reading the system's roots costs more than a warm pull spends on anything but its copy, so
/// they are read only when a server shows a certificate, and once per run however many
/// clients the run builds.
#[tokio::test(flavor = "multi_thread")]
async fn the_system_roots_are_read_once_and_only_for_tls() {
    let Some(strace) = require_tool("strace") else {
        return;
    };
    let Some(Scene {
        pki,
        registry: _registry,
        image,
        reference,
        dir,
    }) = scene(false).await
    else {
        return;
    };
    let ca = pki.file("ca.crt");
    let no_dir = fresh_dir("tls-no-cert-dir-");
    let env = [
        ("SSL_CERT_FILE", ca.as_os_str()),
        ("SSL_CERT_DIR", no_dir.as_os_str()),
    ];

    // Over TLS, trusted through SSL_CERT_FILE alone: read, once.
    let args = ["pull", "-q", "-o", "tls.tar", &reference].map(OsStr::new);
    let (opens, out) = opens_of(&strace, &ca, &env, &dir, &args);
    out.assert_success();
    assert_holds(&dir, "tls", &image);
    assert_eq!(opens, 1, "SSL_CERT_FILE opened {opens} times over TLS");

    // The same image from a plain-HTTP registry: never read.
    let plain = FakeRegistry::start();
    plain.push_image("library/app", "1", &image);
    let url = plain.url();
    let args = ["pull", "-q", "--endpoint", &url, "-o", "plain.tar", "app:1"].map(OsStr::new);
    let (opens, out) = opens_of(&strace, &ca, &env, &dir, &args);
    out.assert_success();
    assert_holds(&dir, "plain", &image);
    assert_eq!(
        opens, 0,
        "SSL_CERT_FILE opened {opens} times for plain HTTP"
    );
}

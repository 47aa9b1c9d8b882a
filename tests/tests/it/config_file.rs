//! The config file: per registry host, the adapter, mirrors tried before the host, `insecure`
//! and a certs directory; command-line flags win for one call.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use drag_tests::archive::assert_archive_holds_image;
use drag_tests::drag_cli::fresh_dir;
use drag_tests::{
    drag, free_port, run, AuthMode, Compression, DragOutput, FakeRegistry, Fault, Image,
    ImageBuilder, LayerBuilder, RealRegistry, TestPki,
};

fn small_image(text: &str) -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("etc/motd", text, 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// Writes `text` as a config file in a fresh directory and returns its path.
fn config_file(text: &str) -> PathBuf {
    let path = fresh_dir("drag-config-").join("config.toml");
    std::fs::write(&path, text).expect("write the config file");
    path
}

/// `drag` reading the config file at `path` through `$DRAG_CONFIG`.
fn drag_with(config: &Path) -> Command {
    let mut command = drag();
    command.env("DRAG_CONFIG", config);
    command
}

fn inspect_json(out: &DragOutput) -> serde_json::Value {
    out.assert_success();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("inspect printed no JSON ({e}):\n{}", out.stdout_text()))
}

/// Manifest and blob requests a fake registry has seen (not the `/v2/` probe).
fn image_requests(registry: &FakeRegistry) -> Vec<String> {
    registry
        .requests()
        .into_iter()
        .map(|r| r.path_and_query)
        .filter(|p| p.contains("/manifests/") || p.contains("/blobs/"))
        .collect()
}

#[test]
fn the_config_chooses_a_hosts_adapter_and_registry_flag_overrides_it() {
    let registry = FakeRegistry::start();
    registry.push_image("app", "1", &small_image("adapter\n"));
    let reference = format!("{}/app:1", registry.host());
    let config = config_file(&format!(
        "[registries.\"{}\"]\nadapter = \"mcr\"\n",
        registry.host()
    ));

    let chosen = inspect_json(&run(drag_with(&config).args(["inspect", &reference])));
    assert_eq!(chosen["adapter"], "mcr");
    // Without the config, the catch-all serves this host.
    let plain = inspect_json(&run(drag().args(["inspect", &reference])));
    assert_eq!(plain["adapter"], "oci");
    // `--registry` wins for one call.
    let flagged = inspect_json(&run(drag_with(&config).args([
        "inspect",
        "--registry",
        "oci",
        &reference,
    ])));
    assert_eq!(flagged["adapter"], "oci");
}

#[test]
fn a_host_pattern_entry_applies_and_a_literal_entry_beats_it() {
    let registry = FakeRegistry::start();
    registry.push_image("app", "1", &small_image("pattern\n"));
    let reference = format!("{}/app:1", registry.host());
    let port = registry.host().rsplit(':').next().unwrap().to_string();
    // `127.0.0.*:PORT` is a pattern: `*` within the last label, the port literal.
    let pattern = config_file(&format!(
        "[registries.\"127.0.0.*:{port}\"]\nadapter = \"mcr\"\n"
    ));
    let chosen = inspect_json(&run(drag_with(&pattern).args(["inspect", &reference])));
    assert_eq!(chosen["adapter"], "mcr");
    let both = config_file(&format!(
        "[registries.\"127.0.0.*:{port}\"]\nadapter = \"mcr\"\n\
         [registries.\"{}\"]\nadapter = \"oci\"\n",
        registry.host()
    ));
    let chosen = inspect_json(&run(drag_with(&both).args(["inspect", &reference])));
    assert_eq!(chosen["adapter"], "oci");
}

#[test]
fn an_unreachable_mirror_is_skipped_and_the_next_serves_everything() {
    let origin = FakeRegistry::start();
    let mirror = FakeRegistry::start();
    let image = small_image("from the mirror\n");
    origin.push_image("team/app", "1", &image);
    mirror.push_image("team/app", "1", &image);
    // Nothing listens there.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let config = config_file(&format!(
        "[registries.\"{}\"]\nmirrors = [\"{dead}\", \"{}\"]\n",
        origin.host(),
        mirror.url()
    ));
    let reference = format!("{}/team/app:1", origin.host());

    let dir = fresh_dir("mirrors-");
    let out = run(drag_with(&config)
        .current_dir(&dir)
        .args(["pull", "-o", "app.tar", &reference]));
    out.assert_success();
    assert_archive_holds_image(&dir.join("app.tar"), &image);
    assert!(
        out.stderr.contains(&format!("mirror {dead}/ skipped")),
        "stderr names the skipped mirror: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("served by mirror {}/", mirror.url())),
        "stderr says which mirror served: {}",
        out.stderr
    );
    assert!(
        image_requests(&origin).is_empty(),
        "the registry itself was asked: {:?}",
        image_requests(&origin)
    );
    let from_mirror = image_requests(&mirror);
    for layer in &image.layers {
        assert!(
            from_mirror.iter().any(|p| p.ends_with(&layer.blob.digest)),
            "layer {} not fetched from the mirror: {from_mirror:?}",
            layer.blob.digest
        );
    }

    // inspect says which endpoint served.
    let v = inspect_json(&run(drag_with(&config).args(["inspect", &reference])));
    assert_eq!(v["endpoint"], format!("{}/", mirror.url()));
    assert!(image_requests(&origin).is_empty());
}

#[test]
fn a_mirror_without_the_image_passes_to_the_next_then_the_registry() {
    let origin = FakeRegistry::start();
    let empty_a = FakeRegistry::start();
    let empty_b = FakeRegistry::start();
    let image = small_image("from the registry\n");
    origin.push_image("team/app", "1", &image);
    let config = config_file(&format!(
        "[registries.\"{}\"]\nmirrors = [\"{}\", \"{}/\"]\n",
        origin.host(),
        empty_a.url(),
        empty_b.url()
    ));
    let reference = format!("{}/team/app:1", origin.host());

    let dir = fresh_dir("mirrors-");
    let out = run(drag_with(&config)
        .current_dir(&dir)
        .args(["pull", "-o", "app.tar", &reference]));
    out.assert_success();
    assert_archive_holds_image(&dir.join("app.tar"), &image);
    for (mirror, name) in [(&empty_a, "first"), (&empty_b, "second")] {
        let asked = image_requests(mirror);
        assert!(
            asked.iter().any(|p| p.contains("/manifests/1")),
            "the {name} mirror was not asked: {asked:?}"
        );
        assert!(
            out.stderr
                .contains(&format!("mirror {}/ skipped", mirror.url())),
            "{}",
            out.stderr
        );
    }
    assert!(!image_requests(&origin).is_empty());
    assert!(!out.stderr.contains("served by mirror"), "{}", out.stderr);
    let v = inspect_json(&run(drag_with(&config).args(["inspect", &reference])));
    assert_eq!(v["endpoint"], format!("{}/", origin.url()));
}

#[test]
fn mirrors_answering_5xx_or_401_are_skipped_but_a_wrong_digest_is_an_error() {
    let origin = FakeRegistry::start();
    let down = FakeRegistry::start();
    let locked = FakeRegistry::builder()
        .auth(AuthMode::Basic {
            user: "u".into(),
            pass: "p".into(),
        })
        .start();
    let image = small_image("statuses\n");
    for r in [&origin, &down, &locked] {
        r.push_image("team/app", "1", &image);
    }
    down.fault(Fault::ManifestErrors {
        status: 503,
        errors: vec![("UNAVAILABLE".into(), "maintenance".into())],
        times: 10,
    });
    let config = config_file(&format!(
        "[registries.\"{}\"]\nmirrors = [\"{}\", \"{}\"]\n",
        origin.host(),
        down.url(),
        locked.url()
    ));
    let reference = format!("{}/team/app:1", origin.host());
    let dir = fresh_dir("mirrors-");
    let out = run(drag_with(&config)
        .current_dir(&dir)
        .args(["pull", "-o", "app.tar", &reference]));
    out.assert_success();
    assert_archive_holds_image(&dir.join("app.tar"), &image);
    for mirror in [&down, &locked] {
        assert!(
            out.stderr
                .contains(&format!("mirror {}/ skipped", mirror.url())),
            "{}",
            out.stderr
        );
    }
    assert!(!image_requests(&origin).is_empty());

    // A mirror serving other bytes for a digest is not passed over: the pull fails.
    let other = small_image("not the same image\n");
    let liar = FakeRegistry::start();
    for layer in &other.layers {
        liar.push_blob("team/app", &layer.blob);
    }
    liar.push_blob("team/app", &other.config);
    liar.push_manifest("team/app", &image.manifest.digest, &other.manifest);
    let config = config_file(&format!(
        "[registries.\"{}\"]\nmirrors = [\"{}\"]\n",
        origin.host(),
        liar.url()
    ));
    origin.clear_requests();
    let by_digest = format!("{}/team/app@{}", origin.host(), image.manifest.digest);
    let out = run(drag_with(&config)
        .current_dir(&dir)
        .args(["pull", "-o", "liar.tar", &by_digest]));
    out.assert_failure();
    assert!(out.stderr.contains("digest mismatch"), "{}", out.stderr);
    assert!(
        image_requests(&origin).is_empty(),
        "{:?}",
        image_requests(&origin)
    );
    assert!(!dir.join("liar.tar").exists());
}

#[test]
fn endpoint_flag_ignores_the_configured_mirrors() {
    let origin = FakeRegistry::start();
    let mirror = FakeRegistry::start();
    let image = small_image("endpoint\n");
    origin.push_image("team/app", "1", &image);
    mirror.push_image("team/app", "1", &image);
    let config = config_file(&format!(
        "[registries.\"registry.corp.example\"]\nmirrors = [\"{}\"]\n",
        mirror.url()
    ));
    let dir = fresh_dir("mirrors-");
    let out = run(drag_with(&config).current_dir(&dir).args([
        "pull",
        "-o",
        "app.tar",
        "--endpoint",
        &origin.url(),
        "registry.corp.example/team/app:1",
    ]));
    out.assert_success();
    assert!(
        mirror.requests().is_empty(),
        "{:?}",
        image_requests(&mirror)
    );
    assert!(!image_requests(&origin).is_empty());

    // Without --endpoint the same config reads through the mirror (whose host is loopback).
    let out = run(drag_with(&config)
        .current_dir(&dir)
        .args(["inspect", "registry.corp.example/team/app:1"]));
    let v = inspect_json(&out);
    assert_eq!(v["endpoint"], format!("{}/", mirror.url()));
}

#[test]
fn config_mistakes_stop_the_command_before_any_request_naming_file_and_line() {
    let registry = FakeRegistry::start();
    registry.push_image("app", "1", &small_image("never\n"));
    let reference = format!("{}/app:1", registry.host());
    let cases = [
        (
            "[registries.\"a.example\"]\ninsecure = true\nmirorrs = []\n",
            "line 3",
        ),
        (
            "[registries.\"a.example\"]\nadapter = \"nosuch\"\n",
            "adapter",
        ),
        (
            "[registries.\"a.example\"]\nmirrors = [\"ftp://m.example\"]\n",
            "mirrors[0]",
        ),
        ("[registries.\"a.example\"\ninsecure = true\n", "line 1"),
    ];
    for (text, detail) in cases {
        let config = config_file(text);
        let dir = fresh_dir("config-");
        let out = run(drag_with(&config)
            .current_dir(&dir)
            .args(["pull", "-o", "x.tar", &reference]));
        out.assert_failure();
        assert_eq!(out.status.code(), Some(2), "a usage error: {}", out.stderr);
        let line = out.stderr.trim();
        assert_eq!(line.lines().count(), 1, "one line: {line}");
        assert!(
            line.contains(&config.display().to_string()) && line.contains(detail),
            "{text:?} -> {line}"
        );
        assert!(!dir.join("x.tar").exists());
    }
    // A missing $DRAG_CONFIG file is an error too; a missing default file is no config.
    let missing = fresh_dir("config-").join("missing.toml");
    let out = run(drag_with(&missing).args(["inspect", &reference]));
    out.assert_failure();
    assert!(out.stderr.contains("missing.toml"), "{}", out.stderr);
    assert!(registry.requests().is_empty(), "{:?}", registry.requests());
    inspect_json(&run(drag().args(["inspect", &reference])));
}

#[test]
fn the_config_is_read_from_drag_config_else_xdg_config_home() {
    let registry = FakeRegistry::start();
    registry.push_image("app", "1", &small_image("where\n"));
    let reference = format!("{}/app:1", registry.host());
    let entry = |adapter: &str| {
        format!(
            "[registries.\"{}\"]\nadapter = \"{adapter}\"\n",
            registry.host()
        )
    };
    let xdg = fresh_dir("xdg-");
    std::fs::create_dir_all(xdg.join("drag")).unwrap();
    std::fs::write(xdg.join("drag/config.toml"), entry("mcr")).unwrap();
    let from_xdg = inspect_json(&run(drag()
        .env("XDG_CONFIG_HOME", &xdg)
        .args(["inspect", &reference])));
    assert_eq!(from_xdg["adapter"], "mcr");

    // $DRAG_CONFIG wins over the XDG file.
    let explicit = config_file(&entry("oci"));
    let from_env = inspect_json(&run(drag_with(&explicit)
        .env("XDG_CONFIG_HOME", &xdg)
        .args(["inspect", &reference])));
    assert_eq!(from_env["adapter"], "oci");

    // ~/.config when XDG_CONFIG_HOME is unset.
    let home = fresh_dir("home-");
    std::fs::create_dir_all(home.join(".config/drag")).unwrap();
    std::fs::write(home.join(".config/drag/config.toml"), entry("mcr")).unwrap();
    let from_home = inspect_json(&run(drag()
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", &home)
        .args(["inspect", &reference])));
    assert_eq!(from_home["adapter"], "mcr");
}

/// A TLS registry signed by a CA nothing trusts, holding `corp/app:1`; None without
/// `docker-registry`.
async fn untrusted_registry(pki: &TestPki) -> Option<(RealRegistry, Image, String)> {
    let registry = RealRegistry::start_tls(pki, false).await?;
    let image = small_image("behind a private CA\n");
    registry.push_image("corp/app", "1", &image).await;
    let reference = format!("{}/corp/app:1", registry.host());
    Some((registry, image, reference))
}

/// `drag pull` of `reference` into `dir/NAME.tar`, with `extra` arguments.
fn pull_into(
    mut command: Command,
    dir: &Path,
    name: &str,
    reference: &str,
    extra: &[&OsStr],
) -> DragOutput {
    let out = format!("{name}.tar");
    run(command
        .current_dir(dir)
        .args(["pull", "-q", "--retries", "0", "-o", &out])
        .args(extra)
        .arg(reference))
}

#[tokio::test(flavor = "multi_thread")]
async fn per_host_insecure_skips_verification_for_that_host_only() {
    let pki = TestPki::new();
    let Some((first, image, first_ref)) = untrusted_registry(&pki).await else {
        return;
    };
    let Some((_second, _, second_ref)) = untrusted_registry(&pki).await else {
        return;
    };
    let config = config_file(&format!(
        "[registries.\"{}\"]\ninsecure = true\n",
        first.host()
    ));
    let dir = fresh_dir("insecure-");
    pull_into(drag_with(&config), &dir, "first", &first_ref, &[]).assert_success();
    assert_archive_holds_image(&dir.join("first.tar"), &image);
    let refused = pull_into(drag_with(&config), &dir, "second", &second_ref, &[]);
    refused.assert_failure();
    assert!(refused.stderr.contains("not trusted"), "{}", refused.stderr);
    assert!(!dir.join("second.tar").exists());
    // Without the entry, the first is refused too.
    let refused = pull_into(drag(), &dir, "plain", &first_ref, &[]);
    refused.assert_failure();
    assert!(refused.stderr.contains("not trusted"), "{}", refused.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn per_host_certs_dir_trusts_that_hosts_ca_and_cert_dir_flag_overrides_it() {
    let pki = TestPki::new();
    let Some((registry, image, reference)) = untrusted_registry(&pki).await else {
        return;
    };
    let certs = fresh_dir("certs-");
    pki.write_certs_d(&certs, false);
    let config = config_file(&format!(
        "[registries.\"{}\"]\ncerts = \"{}\"\n",
        registry.host(),
        certs.display()
    ));
    let dir = fresh_dir("certs-pull-");
    pull_into(drag_with(&config), &dir, "trusted", &reference, &[]).assert_success();
    assert_archive_holds_image(&dir.join("trusted.tar"), &image);

    // --cert-dir wins: an empty directory trusts nothing more.
    let empty = fresh_dir("certs-empty-");
    let flag = [OsStr::new("--cert-dir"), empty.as_os_str()];
    let out = pull_into(drag_with(&config), &dir, "flag", &reference, &flag);
    out.assert_failure();
    assert!(out.stderr.contains("not trusted"), "{}", out.stderr);
}

#[test]
fn config_show_prints_the_entry_a_host_takes_and_config_path_the_file() {
    let config = config_file(
        "[registries.\"*.corp.example\"]\ninsecure = true\n\
         [registries.\"harbor.corp.example\"]\nadapter = \"oci\"\n\
         mirrors = [\"https://mirror.corp.example:5000\"]\n",
    );
    let out = run(drag_with(&config).args(["config", "path"]));
    out.assert_success();
    assert_eq!(out.stdout_text().trim(), config.display().to_string());

    let out = run(drag_with(&config).args(["config", "show", "harbor.corp.example"]));
    out.assert_success();
    let shown = out.stdout_text();
    assert!(shown.contains("adapter = \"oci\""), "{shown}");
    assert!(
        shown.contains("mirrors = [\"https://mirror.corp.example:5000/\"]"),
        "{shown}"
    );
    assert!(
        !shown.contains("insecure"),
        "a literal entry is not blended: {shown}"
    );

    let out = run(drag_with(&config).args(["config", "show", "nexus.corp.example"]));
    let shown = out.stdout_text();
    assert!(
        shown.contains("pattern *.corp.example") && shown.contains("insecure = true"),
        "{shown}"
    );
    // What `show` prints is a config file again.
    let all = run(drag_with(&config).args(["config", "show"]));
    let again = config_file(&all.stdout_text());
    let out = run(drag_with(&again).args(["config", "show"]));
    assert_eq!(out.stdout_text(), all.stdout_text());
}

//! Credentials from where `docker login` and `podman login` keep them: Docker's config.json
//! with credential helpers, podman's auth.json with repository-scoped entries, and identity
//! tokens exchanged through the OAuth2 form of the token protocol.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine as _;
use drag_tests::drag_cli::{fresh_dir, pull, pull_command};
use drag_tests::{
    drag, run, AuthMode, Compression, DragOutput, FakeRegistry, Image, ImageBuilder, LayerBuilder,
    TokenRequest,
};

fn image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("secret/plan", "behind a login\n", 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

fn basic(user: &str, pass: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
}

/// Installs `docker-credential-NAME` in `bin`: it writes the server it was asked about to
/// `bin/asked-NAME` and answers with `user`/`secret` for `server`, "not found" otherwise.
fn install_helper(bin: &Path, name: &str, server: &str, user: &str, secret: &str) {
    std::fs::create_dir_all(bin).unwrap();
    let asked = bin.join(format!("asked-{name}"));
    let script = format!(
        "#!/bin/sh\n\
         [ \"$1\" = get ] || exit 2\n\
         read -r server\n\
         printf '%s\\n' \"$server\" >> '{asked}'\n\
         if [ \"$server\" = '{server}' ]; then\n\
           printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$server\"\n\
         else\n\
           echo 'credentials not found in native keychain'; exit 1\n\
         fi\n",
        asked = asked.display(),
    );
    let path = bin.join(format!("docker-credential-{name}"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `drag pull -q -o OUTPUT REFERENCE` in `dir` with `env` set.
fn pull_with_env(dir: &Path, env: &[(&str, &OsStr)], output: &str, reference: &str) -> DragOutput {
    run(pull_command(dir)
        .envs(env.iter().copied())
        .args(["-q", "-o", output, reference]))
}

/// Pulls `team/app:1` from `registry` with `var` set to `value`; the token requests it made.
fn token_requests_of_pull(
    registry: &FakeRegistry,
    dir: &Path,
    var: &str,
    value: &Path,
) -> Vec<TokenRequest> {
    let reference = format!("{}/team/app:1", registry.host());
    pull_with_env(dir, &[(var, value.as_os_str())], "app.tar", &reference).assert_success();
    let requests = registry.token_requests();
    assert!(!requests.is_empty(), "the registry asked for a token");
    requests
}

fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn credential_helpers_from_docker_config_supply_the_login() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::Basic {
            user: "alice".into(),
            pass: "s3cret".into(),
        })
        .start();
    registry.push_image("team/app", "2", &image());
    let reference = format!("{}/team/app:2", registry.host());
    let dir = fresh_dir("cred-helper-");
    let bin = dir.join("bin");
    install_helper(&bin, "dragstore", &registry.host(), "alice", "s3cret");
    let docker_config = dir.join("docker");
    std::fs::create_dir_all(&docker_config).unwrap();

    // credsStore: the helper for every registry.
    std::fs::write(
        docker_config.join("config.json"),
        r#"{"auths":{},"credsStore":"dragstore"}"#,
    )
    .unwrap();
    let path = path_with(&bin);
    let with_helpers = [
        ("PATH", OsStr::new(&path)),
        ("DOCKER_CONFIG", docker_config.as_os_str()),
    ];
    pull_with_env(&dir, &with_helpers, "store.tar", &reference).assert_success();
    let asked = std::fs::read_to_string(bin.join("asked-dragstore")).unwrap();
    assert_eq!(
        asked.trim(),
        registry.host(),
        "the helper is asked for the registry"
    );

    // credHelpers names the helper for this registry and wins over a credsStore that is
    // not installed here (a config copied from a desktop machine).
    std::fs::write(
        docker_config.join("config.json"),
        format!(
            r#"{{"credsStore":"desktop-not-here","credHelpers":{{"{}":"dragstore"}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    pull_with_env(&dir, &with_helpers, "helpers.tar", &reference).assert_success();

    // Without the helper on PATH there is no login: the registry's own refusal.
    let denied = pull_with_env(&dir, &with_helpers[1..], "denied.tar", &reference);
    assert_eq!(denied.status.code(), Some(1));
    assert!(denied.stderr.contains("UNAUTHORIZED"), "{}", denied.stderr);
    assert!(!dir.join("denied.tar").exists());
}

#[test]
fn podman_auth_file_entries_scoped_to_a_namespace_win() {
    let registry = FakeRegistry::builder().auth(AuthMode::bearer()).start();
    registry.push_image("team/app", "1", &image());
    let dir = fresh_dir("auth-json-");
    let auth_file = dir.join("auth.json");
    std::fs::write(
        &auth_file,
        format!(
            r#"{{"auths":{{"{host}":{{"auth":"{any}"}},"{host}/team":{{"auth":"{team}"}}}}}}"#,
            host = registry.host(),
            any = basic("anyone", "1"),
            team = basic("carol", "2"),
        ),
    )
    .unwrap();
    for r in &token_requests_of_pull(&registry, &dir, "REGISTRY_AUTH_FILE", &auth_file) {
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Basic {}", basic("carol", "2")).as_str())
        );
    }
}

#[test]
fn identity_tokens_are_exchanged_as_oauth2_refresh_tokens() {
    // A challenge naming a service gets it back in the form; one without (nvcr) gets none,
    // not an empty one.
    for names_service in [true, false] {
        identity_token_exchange(names_service);
    }
}

fn identity_token_exchange(names_service: bool) {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::bearer())
        .challenge_service(names_service)
        .start();
    registry.push_image("team/app", "1", &image());
    let dir = fresh_dir("identity-token-");
    let docker_config = dir.join("docker");
    std::fs::create_dir_all(&docker_config).unwrap();
    std::fs::write(
        docker_config.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"refresh-123"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    for r in &token_requests_of_pull(&registry, &dir, "DOCKER_CONFIG", &docker_config) {
        assert_eq!(r.method, "POST");
        assert_eq!(r.grant_type.as_deref(), Some("refresh_token"));
        assert_eq!(r.refresh_token.as_deref(), Some("refresh-123"));
        assert_eq!(r.scopes, ["repository:team/app:pull"]);
        assert_eq!(r.authorization, None, "the token goes in the form only");
        let service = names_service.then_some(drag_tests::fake_registry::SERVICE);
        assert_eq!(r.service.as_deref(), service);
    }
}

#[test]
fn authfile_names_the_one_file_to_read() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::Basic {
            user: "alice".into(),
            pass: "s3cret".into(),
        })
        .start();
    registry.push_image("team/app", "3", &image());
    let reference = format!("{}/team/app:3", registry.host());
    let dir = fresh_dir("authfile-");
    let entry = |user: &str, pass: &str| {
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            registry.host(),
            basic(user, pass)
        )
    };
    std::fs::write(dir.join("right.json"), entry("alice", "s3cret")).unwrap();
    std::fs::write(dir.join("wrong.json"), entry("alice", "guess")).unwrap();
    let wrong = dir.join("wrong.json");
    let with_wrong_default = [("REGISTRY_AUTH_FILE", wrong.as_os_str())];

    let denied = pull_with_env(&dir, &with_wrong_default, "denied.tar", &reference);
    assert!(denied.stderr.contains("UNAUTHORIZED"), "{}", denied.stderr);
    let out = run(drag()
        .current_dir(&dir)
        .env("REGISTRY_AUTH_FILE", &wrong)
        .args([
            "pull",
            "-q",
            "--authfile",
            "right.json",
            "-o",
            "app.tar",
            &reference,
        ]));
    out.assert_success();

    let missing = pull(
        &dir,
        &["-q", "--authfile", "nope.json", "-o", "x.tar", &reference],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(missing.stderr.contains("nope.json"), "{}", missing.stderr);
}

//! `drag login` and `drag logout`: the login is checked with the registry first (a Bearer
//! token service, a Basic registry, an open one), then kept where `docker login` keeps it
//! (config.json, `--authfile`, a `credsStore` helper), where later pulls and other tools
//! (skopeo) find it.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use drag_tests::drag_cli::{fresh_dir, pull_command, with_drag_env};
use drag_tests::{
    drag, drag_bin, require_tool, run, AuthMode, Compression, DragOutput, FakeRegistry, Image,
    ImageBuilder, LayerBuilder, RealRegistry,
};

fn image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("etc/motd", "behind a login\n", 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

fn basic(user: &str, pass: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
}

/// A Bearer registry whose token service takes only alice's password, holding `team/app:1`.
fn private_registry() -> FakeRegistry {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::bearer())
        .token_login("alice", "s3cret")
        .start();
    registry.push_image("team/app", "1", &image());
    registry
}

/// `drag ARGS` with `DOCKER_CONFIG=docker_config` and `stdin` (a file's content) on stdin.
fn drag_with(docker_config: &Path, stdin: Option<&str>, args: &[&str]) -> DragOutput {
    let mut command = drag();
    command.env("DOCKER_CONFIG", docker_config).args(args);
    if let Some(input) = stdin {
        let file = docker_config.with_extension(format!("stdin-{}", rand_suffix()));
        std::fs::write(&file, input).unwrap();
        command.stdin(std::fs::File::open(&file).unwrap());
    }
    run(&mut command)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `drag login --password-stdin -u USER HOST EXTRA...` with `password` piped in.
fn login(
    docker_config: &Path,
    host: &str,
    user: &str,
    password: &str,
    extra: &[&str],
) -> DragOutput {
    let mut args = vec!["login", "--password-stdin", "-u", user, host];
    args.extend_from_slice(extra);
    drag_with(docker_config, Some(password), &args)
}

fn config_json(docker_config: &Path) -> serde_json::Value {
    let path = docker_config.join("config.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// `drag pull -q -o OUT REFERENCE` in `dir`, with `DOCKER_CONFIG` and extra environment.
fn pull_with(
    dir: &Path,
    docker_config: &Path,
    env: &[(&str, &OsStr)],
    reference: &str,
) -> DragOutput {
    run(pull_command(dir)
        .env("DOCKER_CONFIG", docker_config)
        .envs(env.iter().copied())
        .args(["-q", "-o", "out.tar", reference]))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn good_login_is_checked_with_the_token_service_stored_and_used_by_a_later_pull() {
    let registry = private_registry();
    let dir = fresh_dir("login-good-");
    // Not there yet: login creates the directory, private.
    let docker_config = dir.join("docker");
    let reference = format!("{}/team/app:1", registry.host());
    pull_with(&dir, &docker_config, &[], &reference).assert_failure();

    registry.clear_requests();
    let before = registry.token_requests().len();
    // `echo`'s newline is not part of the password.
    let out = login(
        &docker_config,
        &registry.host(),
        "alice",
        "s3cret\n",
        &["-v"],
    );
    out.assert_success();
    assert!(out.stderr.contains("Login Succeeded"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "stdout stays data-free");
    assert!(
        out.stderr.contains("drag: http: GET"),
        "-v traces: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cret") && !out.stderr.contains(&basic("alice", "s3cret")));
    let asked = &registry.token_requests()[before..];
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].scopes.is_empty(),
        "no scope, as docker login: {asked:?}"
    );
    assert_eq!(
        asked[0].authorization.as_deref(),
        Some(format!("Basic {}", basic("alice", "s3cret")).as_str())
    );

    let config = config_json(&docker_config);
    assert_eq!(
        config["auths"][registry.host()],
        serde_json::json!({"auth": basic("alice", "s3cret")})
    );
    assert_eq!(mode(&docker_config.join("config.json")), 0o600);
    assert_eq!(mode(&docker_config), 0o700);

    pull_with(&dir, &docker_config, &[], &reference).assert_success();
    assert!(dir.join("out.tar").is_file());
}

#[test]
fn wrong_password_stores_nothing_and_says_what_the_registry_said() {
    let registry = private_registry();
    let dir = fresh_dir("login-wrong-");
    let docker_config = dir.join("docker");
    std::fs::create_dir_all(&docker_config).unwrap();
    let original = r#"{"auths":{"other.example":{"auth":"eDp5"}}}"#;
    std::fs::write(docker_config.join("config.json"), original).unwrap();

    let out = login(&docker_config, &registry.host(), "alice", "wrong", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {}", out.stderr);
    assert!(
        lines[0].contains("incorrect username or password"),
        "{}",
        out.stderr
    );
    assert!(
        lines[0].contains("alice") && lines[0].contains("refused"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Login Succeeded"));
    assert_eq!(
        std::fs::read_to_string(docker_config.join("config.json")).unwrap(),
        original,
        "the file is untouched"
    );
}

#[test]
fn login_keeps_every_other_entry_and_field_of_config_json() {
    let registry = private_registry();
    let dir = fresh_dir("login-keep-");
    let docker_config = dir.join("docker");
    std::fs::create_dir_all(&docker_config).unwrap();
    std::fs::write(
        docker_config.join("config.json"),
        format!(
            r#"{{"auths":{{"other.example":{{"auth":"eDp5","email":"x@example"}},
                 "{host}":{{"identitytoken":"stale"}}}},
               "psFormat":"table {{{{.ID}}}}","experimental":"enabled",
               "proxies":{{"default":{{"httpProxy":"http://proxy:3128"}}}}}}"#,
            host = registry.host()
        ),
    )
    .unwrap();
    login(&docker_config, &registry.host(), "alice", "s3cret", &[]).assert_success();
    let config = config_json(&docker_config);
    assert_eq!(
        config["auths"]["other.example"],
        serde_json::json!({"auth": "eDp5", "email": "x@example"})
    );
    assert_eq!(config["psFormat"], "table {{.ID}}");
    assert_eq!(config["experimental"], "enabled");
    assert_eq!(
        config["proxies"]["default"]["httpProxy"],
        "http://proxy:3128"
    );
    // The stale identity token would win over the password when read: the entry is replaced.
    assert_eq!(
        config["auths"][registry.host()],
        serde_json::json!({"auth": basic("alice", "s3cret")})
    );
    assert_eq!(mode(&docker_config.join("config.json")), 0o600);
}

#[test]
fn unreadable_config_json_is_a_clear_error_and_left_untouched() {
    let registry = private_registry();
    let dir = fresh_dir("login-broken-");
    let docker_config = dir.join("docker");
    std::fs::create_dir_all(&docker_config).unwrap();
    std::fs::write(docker_config.join("config.json"), "{\"auths\": ").unwrap();
    let out = login(&docker_config, &registry.host(), "alice", "s3cret", &[]);
    out.assert_failure();
    assert!(
        out.stderr.contains("config.json") && out.stderr.contains("not JSON"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(docker_config.join("config.json")).unwrap(),
        "{\"auths\": "
    );
}

#[test]
fn authfile_is_where_login_and_logout_keep_the_login() {
    let registry = private_registry();
    let dir = fresh_dir("login-authfile-");
    let docker_config = dir.join("docker");
    let authfile = dir.join("auth/mine.json");
    let file_arg = authfile.display().to_string();
    login(
        &docker_config,
        &registry.host(),
        "alice",
        "s3cret",
        &["--authfile", &file_arg],
    )
    .assert_success();
    assert!(!docker_config.join("config.json").exists());
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&authfile).unwrap()).unwrap();
    assert_eq!(
        stored["auths"][registry.host()]["auth"],
        basic("alice", "s3cret")
    );
    assert_eq!(mode(&authfile), 0o600);

    let reference = format!("{}/team/app:1", registry.host());
    run(pull_command(&dir).args(["-q", "-o", "out.tar", "--authfile", &file_arg, &reference]))
        .assert_success();

    let out = drag_with(
        &docker_config,
        None,
        &["logout", "--authfile", &file_arg, &registry.host()],
    );
    out.assert_success();
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&authfile).unwrap()).unwrap();
    assert!(stored["auths"].as_object().unwrap().is_empty(), "{stored}");
}

#[test]
fn logout_removes_every_spelling_of_the_host_and_a_second_logout_fails() {
    let registry = private_registry();
    let dir = fresh_dir("logout-");
    let docker_config = dir.join("docker");
    login(&docker_config, &registry.host(), "alice", "s3cret", &[]).assert_success();
    // An older spelling of the same registry that drag's lookup would also find.
    let config_path = docker_config.join("config.json");
    let mut config = config_json(&docker_config);
    config["auths"][format!("http://{}/v2/", registry.host())] =
        serde_json::json!({"auth": basic("alice", "s3cret")});
    config["auths"]["other.example"] = serde_json::json!({"auth": "eDp5"});
    std::fs::write(&config_path, config.to_string()).unwrap();

    let out = drag_with(&docker_config, None, &["logout", &registry.host()]);
    out.assert_success();
    assert!(
        out.stderr.contains(&format!(
            "Removed login credentials for {}",
            registry.host()
        )),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
    let config = config_json(&docker_config);
    assert_eq!(
        config["auths"],
        serde_json::json!({"other.example": {"auth": "eDp5"}})
    );
    let reference = format!("{}/team/app:1", registry.host());
    pull_with(&dir, &docker_config, &[], &reference).assert_failure();

    let again = drag_with(&docker_config, None, &["logout", &registry.host()]);
    assert_eq!(again.status.code(), Some(1), "{}", again.stderr);
    assert!(again.stderr.contains("not logged in"), "{}", again.stderr);
    assert!(
        again.stderr.contains(&config_path.display().to_string()),
        "{}",
        again.stderr
    );
}

/// Installs `docker-credential-test` in `bin`: a one-entry store in `bin/stored.json`, logging
/// each action and what came on stdin to `bin/log`.
fn install_store_helper(bin: &Path) -> PathBuf {
    std::fs::create_dir_all(bin).unwrap();
    let script = format!(
        "#!/bin/sh\n\
         cd '{bin}'\n\
         input=$(cat)\n\
         printf '%s %s\\n' \"$1\" \"$input\" >> log\n\
         case \"$1\" in\n\
           store) printf '%s' \"$input\" > stored.json ;;\n\
           get) if [ -f stored.json ]; then cat stored.json; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n\
           erase) if [ -f stored.json ]; then rm stored.json; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n\
           *) exit 2 ;;\n\
         esac\n",
        bin = bin.display()
    );
    let path = bin.join("docker-credential-test");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin.join("log")
}

#[test]
fn creds_store_helper_gets_store_and_erase_with_the_right_json() {
    let registry = private_registry();
    let dir = fresh_dir("login-helper-");
    let bin = dir.join("bin");
    let log = install_store_helper(&bin);
    let docker_config = dir.join("docker");
    std::fs::create_dir_all(&docker_config).unwrap();
    let original = r#"{"auths":{},"credsStore":"test"}"#;
    std::fs::write(docker_config.join("config.json"), original).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut command = drag();
    let password = dir.join("password");
    std::fs::write(&password, "s3cret\n").unwrap();
    command
        .env("DOCKER_CONFIG", &docker_config)
        .env("PATH", &path)
        .stdin(std::fs::File::open(&password).unwrap())
        .args(["login", "-u", "alice", "--password-stdin", &registry.host()]);
    let out = run(&mut command);
    out.assert_success();
    assert!(
        out.stderr.contains("docker-credential-test"),
        "{}",
        out.stderr
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    let (action, json) = logged.lines().next().unwrap().split_once(' ').unwrap();
    assert_eq!(action, "store");
    let sent: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"ServerURL": registry.host(), "Username": "alice", "Secret": "s3cret"})
    );
    assert_eq!(
        std::fs::read_to_string(docker_config.join("config.json")).unwrap(),
        original,
        "the secret is the helper's, not the file's"
    );

    let reference = format!("{}/team/app:1", registry.host());
    pull_with(
        &dir,
        &docker_config,
        &[("PATH", OsStr::new(&path))],
        &reference,
    )
    .assert_success();

    let mut command = drag();
    command
        .env("DOCKER_CONFIG", &docker_config)
        .env("PATH", &path)
        .args(["logout", &registry.host()]);
    run(&mut command).assert_success();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        logged.lines().last(),
        Some(format!("erase {}", registry.host()).as_str())
    );
    assert!(!bin.join("stored.json").exists());
    let mut command = drag();
    command
        .env("DOCKER_CONFIG", &docker_config)
        .env("PATH", &path)
        .args(["logout", &registry.host()]);
    let again = run(&mut command);
    assert_eq!(again.status.code(), Some(1), "{}", again.stderr);
    assert!(
        again.stderr.contains("docker-credential-test"),
        "{}",
        again.stderr
    );
}

#[test]
fn without_a_terminal_login_needs_password_stdin() {
    let registry = private_registry();
    let dir = fresh_dir("login-noterm-");
    let docker_config = dir.join("docker");
    // stdin is /dev/null: no terminal to ask on.
    let out = drag_with(
        &docker_config,
        None,
        &["login", "-u", "alice", &registry.host()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--password-stdin"), "{}", out.stderr);
    let out = drag_with(&docker_config, None, &["login", &registry.host()]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    let out = drag_with(
        &docker_config,
        Some("s3cret"),
        &["login", "--password-stdin", &registry.host()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--username"), "{}", out.stderr);
    // A password is never an argument.
    let out = drag_with(
        &docker_config,
        None,
        &["login", "-u", "alice", "-p", "s3cret", &registry.host()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(!docker_config.join("config.json").exists());
    assert!(registry.token_requests().is_empty(), "nothing was sent");
}

/// On a terminal (a pseudo-terminal from `script`), the user name is asked and echoed, the
/// password is asked without echo, and the login is checked and kept as with --password-stdin.
#[test]
fn on_a_terminal_the_password_is_asked_without_echo() {
    let Some(script) = require_tool("script") else {
        return;
    };
    let registry = private_registry();
    let dir = fresh_dir("login-tty-");
    let docker_config = dir.join("docker");
    let typescript = dir.join("typescript");
    // The password is typed once the prompt is up: typed earlier, it would be discarded when
    // echo is turned off, as on any terminal.
    let typist = format!(
        "echo alice; i=0; until grep -q 'Password:' '{ts}' 2>/dev/null || [ $i -ge 300 ]; do \
         i=$((i+1)); sleep 0.1; done; sleep 0.5; echo s3cret; sleep 2",
        ts = typescript.display()
    );
    let command = format!(
        "({typist}) | '{script}' -qfec \"'{drag}' login {host}\" '{ts}'",
        script = script.display(),
        drag = drag_bin().display(),
        host = registry.host(),
        ts = typescript.display(),
    );
    let out = run(with_drag_env("sh")
        .env("DOCKER_CONFIG", &docker_config)
        .arg("-c")
        .arg(command));
    let shown = std::fs::read_to_string(&typescript).unwrap_or_default();
    assert!(out.success(), "{shown}");
    // The terminal echoes the user name (here before the prompt: it was typed ahead).
    assert!(
        shown.contains("Username:") && shown.contains("alice"),
        "{shown}"
    );
    assert!(shown.contains("Password:"), "{shown}");
    assert!(shown.contains("Login Succeeded"), "{shown}");
    assert!(
        !shown.contains("s3cret"),
        "the password is not echoed: {shown}"
    );
    assert_eq!(
        config_json(&docker_config)["auths"][registry.host()]["auth"],
        basic("alice", "s3cret")
    );
}

#[test]
fn open_registry_login_is_stored_with_a_notice() {
    let registry = FakeRegistry::start();
    let dir = fresh_dir("login-open-");
    let docker_config = dir.join("docker");
    let out = login(
        &docker_config,
        &format!("http://{}", registry.host()),
        "alice",
        "pw",
        &[],
    );
    out.assert_success();
    assert!(out.stderr.contains("asks for no login"), "{}", out.stderr);
    assert_eq!(
        config_json(&docker_config)["auths"][registry.host()]["auth"],
        basic("alice", "pw")
    );
}

/// Docker Hub's login is kept under `https://index.docker.io/v1/`, as `docker login` keeps it,
/// whichever of its names the user types; the check goes to the endpoint (a stand-in here).
#[tokio::test(flavor = "multi_thread")]
async fn docker_hub_login_is_kept_under_the_index_key() {
    let registry = private_registry();
    let dir = fresh_dir("login-hub-");
    let file = dir.join("config.json");
    let host = drag_core::login::LoginHost::resolve("index.docker.io", None, None).unwrap();
    assert_eq!(host.keys[0], "https://index.docker.io/v1/");
    assert_eq!(host.endpoint, "https://registry-1.docker.io");
    let opts = drag_core::RegistryOptions {
        endpoint: Some(registry.url()),
        auth_file: Some(file.clone()),
        ..Default::default()
    };
    let credentials = drag_core::auth::Credentials::password("alice", "s3cret");
    let report = drag_core::login::login("docker.io", &credentials, &opts)
        .await
        .unwrap();
    assert_eq!(report.checked, drag_core::login::Checked::Accepted);
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        stored["auths"],
        serde_json::json!({"https://index.docker.io/v1/": {"auth": basic("alice", "s3cret")}})
    );
    let wrong = drag_core::auth::Credentials::password("alice", "nope");
    let e = drag_core::login::login("docker.io", &wrong, &opts)
        .await
        .unwrap_err();
    assert!(matches!(e, drag_core::Error::Registry(_)), "{e}");
    let (_, place) = drag_core::login::logout(
        "https://index.docker.io/v1/",
        None,
        Some(&file),
        &drag_core::RegistryConfig::default(),
    )
    .unwrap();
    assert_eq!(place, drag_core::login::Place::File(file.clone()));
}

/// Against the reference registry locked with htpasswd (Basic): a good login is stored and
/// skopeo, which reads Docker's config.json, gets in with it; a wrong one is refused with
/// distribution's own words and nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn htpasswd_registry_login_is_checked_with_basic_and_skopeo_uses_it() {
    let Some(registry) = RealRegistry::start_htpasswd("alice", "s3cret").await else {
        return;
    };
    let pushed = image();
    registry.push_image("app", "1", &pushed).await;
    let dir = fresh_dir("login-htpasswd-");
    let docker_config = dir.join("docker");

    let out = login(&docker_config, &registry.host(), "alice", "wrong", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("UNAUTHORIZED"), "{}", out.stderr);
    assert!(!docker_config.join("config.json").exists());

    login(&docker_config, &registry.host(), "alice", "s3cret", &[]).assert_success();
    let reference = format!("{}/app:1", registry.host());
    pull_with(&dir, &docker_config, &[], &reference).assert_success();

    let Some(skopeo) = require_tool("skopeo") else {
        return;
    };
    let config = docker_config.join("config.json");
    let inspect = |authfile: &Path| {
        Command::new(&skopeo)
            .args(["inspect", "--tls-verify=false", "--authfile"])
            .arg(authfile)
            .arg(format!("docker://{reference}"))
            .output()
            .unwrap()
    };
    let ok = inspect(&config);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(info["Digest"], pushed.digest());
    // The same without the login: the registry really wanted it.
    let empty = dir.join("empty.json");
    std::fs::write(&empty, "{}").unwrap();
    assert!(!inspect(&empty).status.success());
}

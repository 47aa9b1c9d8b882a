//! The auth-heavy registries, each against a fake registry that reproduces it: ECR's
//! Basic-only challenge, its 403 for an expired login, its tag page cap and its manifests
//! without `Docker-Content-Digest`; ECR Public's 401 to blob HEADs; ACR's refresh tokens
//! exchanged by POST and its `access_token`-only answers; Harbor's Basic re-challenge of a
//! stale token, its GET-only token service, and its `robot$name` accounts.

use drag_tests::archive::{assert_entries_hold_image, read_tar};
use drag_tests::drag_cli::{fresh_dir, pull, pull_command};
use drag_tests::{
    basic_login, drag, run, AuthMode, Compression, FakeRegistry, Fault, Image, ImageBuilder,
    LayerBuilder, Listener, TokenField, TokenLogins, TokenRequest,
};

const ECR_HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const ECR_TOKEN: &str = "eyJwYXlsb2FkIjoiZWNyIn0";
const ACR_NULL_USER: &str = "00000000-0000-0000-0000-000000000000";
const ACR_REFRESH: &str = "eyJ-acr-refresh-token";
const ROBOT: &str = "robot$proj+ci";

/// Three layers, so that a pull with `-j 1` makes requests after the first one stalls.
fn image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("bin/sh", "#!shell", 0o755)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("etc/motd", vec![b'm'; 200_000], 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("app", "app", 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

/// The stall that outlives a one-second token: the first layer pauses mid-body.
fn stall_first_layer(registry: &FakeRegistry, image: &Image) {
    registry.fault(Fault::Stall {
        digest: image.layers[0].blob.digest.clone(),
        after_bytes: 10,
        for_ms: 1500,
    });
}

/// Requests to the registry's API (not its token service, not the CDN).
fn api_requests(registry: &FakeRegistry) -> Vec<drag_tests::RecordedRequest> {
    registry
        .requests()
        .into_iter()
        .filter(|r| r.listener == Listener::Registry && r.path() != "/token")
        .collect()
}

fn issued(tokens: &[TokenRequest]) -> Vec<&TokenRequest> {
    tokens.iter().filter(|t| !t.token.is_empty()).collect()
}

// ---- ECR ----

fn ecr() -> FakeRegistry {
    FakeRegistry::builder()
        .auth(AuthMode::Basic {
            user: "AWS".into(),
            pass: ECR_TOKEN.into(),
        })
        .basic_challenge(&format!(
            "Basic realm=\"https://{ECR_HOST}/\",service=\"ecr.amazonaws.com\""
        ))
        .expired_password("expired-token")
        .docker_content_digest(false)
        .tags_n_cap(1000)
        .tags_page_size(100)
        .start()
}

fn ecr_args<'a>(registry: &'a FakeRegistry, extra: &[&'a str]) -> Vec<String> {
    let mut args = vec![
        "--registry".to_string(),
        "ecr".into(),
        "--endpoint".into(),
        registry.url(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn ecr_pull_answers_the_basic_challenge_with_the_aws_login_and_hashes_manifests() {
    let registry = ecr();
    let image = image();
    registry.push_image("team/app", "1", &image);
    let dir = fresh_dir("ecr-basic-");
    let user = format!("AWS:{ECR_TOKEN}");
    let reference = format!("{ECR_HOST}/team/app:1");
    let out = pull(
        &dir,
        &[
            "--registry",
            "ecr",
            "--endpoint",
            &registry.url(),
            "--user",
            &user,
            &reference,
            "-o",
            "out.tar",
        ],
    );
    out.assert_success();
    assert_entries_hold_image(&read_tar(&dir.join("out.tar")), &image);
    let manifests: Vec<_> = api_requests(&registry)
        .into_iter()
        .filter(|r| r.path().contains("/manifests/") && r.method == "GET")
        .collect();
    assert!(!manifests.is_empty());
    for r in &manifests {
        let login = basic_login_of(r).expect("the manifest GET carried Basic");
        assert_eq!(login, ("AWS".to_string(), ECR_TOKEN.to_string()));
    }
    assert!(
        registry.token_requests().is_empty(),
        "ECR has no token service"
    );

    // No Docker-Content-Digest: a digest reference is checked against the body's hash, so
    // the right digest pulls and a forged one (the same manifest filed under another digest)
    // is refused.
    let by_digest = format!("{ECR_HOST}/team/app@{}", image.digest());
    let dir = fresh_dir("ecr-digest-");
    pull(
        &dir,
        &[
            "--registry",
            "ecr",
            "--endpoint",
            &registry.url(),
            "--user",
            &user,
            &by_digest,
            "-o",
            "out.tar",
        ],
    )
    .assert_success();
    let forged = format!("sha256:{}", "ab".repeat(32));
    registry.push_manifest("team/app", &forged, &image.manifest);
    let dir = fresh_dir("ecr-forged-");
    let out = pull(
        &dir,
        &[
            "--registry",
            "ecr",
            "--endpoint",
            &registry.url(),
            "--user",
            &user,
            &format!("{ECR_HOST}/team/app@{forged}"),
            "-o",
            "out.tar",
        ],
    );
    out.assert_failure();
    assert!(out.stderr.contains("digest"), "{}", out.stderr);
    assert!(!dir.join("out.tar").exists());
}

fn basic_login_of(r: &drag_tests::RecordedRequest) -> Option<(String, String)> {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        axum::http::header::AUTHORIZATION,
        r.authorization.as_deref()?.parse().ok()?,
    );
    basic_login(&headers)
}

#[test]
fn ecr_without_a_login_says_to_log_in_with_get_login_password() {
    let registry = ecr();
    registry.push_image("team/app", "1", &image());
    let dir = fresh_dir("ecr-nologin-");
    let reference = format!("{ECR_HOST}/team/app:1");
    let out = pull(
        &dir,
        &[
            "--registry",
            "ecr",
            "--endpoint",
            &registry.url(),
            &reference,
        ],
    );
    out.assert_failure();
    let expected = format!(
        "aws ecr get-login-password --region REGION | drag login --username AWS \
         --password-stdin {}",
        registry.host()
    );
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
    assert!(!out.stderr.contains("podman login"), "{}", out.stderr);
}

#[test]
fn ecr_expired_login_fails_at_once_with_a_hint_to_renew_it() {
    let registry = ecr();
    registry.push_image("team/app", "1", &image());
    let dir = fresh_dir("ecr-expired-");
    let reference = format!("{ECR_HOST}/team/app:1");
    let out = pull(
        &dir,
        &[
            "--registry",
            "ecr",
            "--endpoint",
            &registry.url(),
            "--user",
            "AWS:expired-token",
            &reference,
        ],
    );
    out.assert_failure();
    assert!(
        out.stderr.contains("Your authorization token has expired"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("the ECR login has expired")
            && out.stderr.contains(
                "renew it with `aws ecr get-login-password --region REGION | drag login \
                 --username AWS --password-stdin"
            ),
        "{}",
        out.stderr
    );
    let manifest_gets = api_requests(&registry)
        .iter()
        .filter(|r| r.path().contains("/manifests/") && r.method == "GET")
        .count();
    assert_eq!(manifest_gets, 1, "no retries");
}

#[test]
fn ecr_tags_are_listed_across_pages_never_asking_for_more_than_1000() {
    let registry = ecr();
    let image = image();
    let count = 2500;
    for i in 0..count {
        registry.push_manifest("team/app", &format!("v{i:04}"), &image.manifest);
    }
    let user = format!("AWS:{ECR_TOKEN}");
    let reference = format!("{ECR_HOST}/team/app");
    let out = run(drag()
        .arg("tags")
        .args(ecr_args(&registry, &["--user", &user, &reference])));
    out.assert_success();
    let listed: Vec<String> = out.stdout_text().lines().map(str::to_string).collect();
    let expected: Vec<String> = (0..count).map(|i| format!("v{i:04}")).collect();
    assert_eq!(listed, expected);
    let pages: Vec<String> = api_requests(&registry)
        .into_iter()
        .filter(|r| r.path().ends_with("/tags/list") && r.authorization.is_some())
        .map(|r| r.path_and_query)
        .collect();
    for page in &pages {
        let n = page
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("n="))
            .and_then(|n| n.parse::<usize>().ok());
        assert!(n.is_some_and(|n| n <= 1000), "page asked {page}");
    }
    // Pages of 1000 (the stand-in's own default is 100): three pages, not twenty-five.
    assert_eq!(pages.len(), 3, "{pages:?}");
}

// ---- ECR Public ----

#[test]
fn ecr_public_pulls_never_head_a_blob_so_its_blob_head_401_cannot_break_them() {
    let registry = FakeRegistry::builder()
        .auth(AuthMode::bearer())
        .blob_head_unauthorized(true)
        .start();
    let image = image();
    registry.push_image("docker/library/app", "1", &image);
    // A dropped body makes the pull resume with a ranged GET: no HEAD there either.
    registry.fault(Fault::DropAfter {
        digest: image.layers[1].blob.digest.clone(),
        bytes: 1000,
    });
    let cache = fresh_dir("ecr-public-cache-");
    let reference = "public.ecr.aws/docker/library/app:1";
    // The second pull finds every blob in the cache.
    for _ in 0..2 {
        let dir = fresh_dir("ecr-public-");
        let out = run(pull_command(&dir).env("DRAG_CACHE_DIR", &cache).args([
            "--registry",
            "ecr-public",
            "--endpoint",
            &registry.url(),
            reference,
            "-o",
            "out.tar",
        ]));
        out.assert_success();
        assert_entries_hold_image(&read_tar(&dir.join("out.tar")), &image);
    }
    assert!(registry.pending_faults().is_empty(), "the drop happened");
    assert!(!registry.token_requests().is_empty(), "anonymous tokens");
    let blob_heads: Vec<String> = registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "HEAD" && r.path().contains("/blobs/"))
        .map(|r| r.path_and_query)
        .collect();
    assert!(blob_heads.is_empty(), "{blob_heads:?}");
}

// ---- ACR ----

fn acr(expires_in: u64) -> FakeRegistry {
    FakeRegistry::builder()
        .auth(AuthMode::Bearer {
            token_field: TokenField::AccessToken,
            expires_in: Some(expires_in),
        })
        .token_logins(TokenLogins {
            basic: vec![("admin".into(), "admin-pw".into())],
            refresh_tokens: vec![ACR_REFRESH.into()],
            post: true,
        })
        .start()
}

fn acr_pull(registry: &FakeRegistry, user: &str, prefix: &str) -> drag_tests::DragOutput {
    let dir = fresh_dir(prefix);
    let out = pull(
        &dir,
        &[
            "-j",
            "1",
            "--registry",
            "acr",
            "--endpoint",
            &registry.url(),
            "--user",
            user,
            "myreg.azurecr.io/team/app:1",
            "-o",
            "out.tar",
        ],
    );
    if out.success() {
        assert!(dir.join("out.tar").is_file());
    }
    out
}

#[test]
fn acr_null_guid_login_is_a_refresh_token_exchanged_by_post() {
    let registry = acr(300);
    registry.push_image("team/app", "1", &image());
    acr_pull(
        &registry,
        &format!("{ACR_NULL_USER}:{ACR_REFRESH}"),
        "acr-refresh-",
    )
    .assert_success();
    let tokens = registry.token_requests();
    assert!(!tokens.is_empty());
    for t in &tokens {
        assert_eq!(t.method, "POST", "{t:?}");
        assert_eq!(t.grant_type.as_deref(), Some("refresh_token"));
        assert_eq!(t.refresh_token.as_deref(), Some(ACR_REFRESH));
        assert!(!t.token.is_empty(), "refused: {t:?}");
        assert_eq!(
            t.authorization, None,
            "the refresh token never goes as Basic"
        );
    }
}

#[test]
fn acr_admin_login_goes_as_basic_on_a_get() {
    let registry = acr(300);
    registry.push_image("team/app", "1", &image());
    acr_pull(&registry, "admin:admin-pw", "acr-admin-").assert_success();
    let tokens = registry.token_requests();
    assert!(!tokens.is_empty());
    for t in &tokens {
        assert_eq!(t.method, "GET", "{t:?}");
        assert!(!t.token.is_empty(), "refused: {t:?}");
    }
}

#[test]
fn acr_token_expiring_mid_pull_is_renewed_with_the_refresh_token() {
    let registry = acr(1);
    let image = image();
    registry.push_image("team/app", "1", &image);
    stall_first_layer(&registry, &image);
    acr_pull(
        &registry,
        &format!("{ACR_NULL_USER}:{ACR_REFRESH}"),
        "acr-expiry-",
    )
    .assert_success();
    let tokens = registry.token_requests();
    assert!(issued(&tokens).len() >= 2, "renewed mid-pull: {tokens:?}");
    assert!(tokens.iter().all(|t| t.method == "POST"), "{tokens:?}");
}

// ---- Harbor ----

fn harbor() -> FakeRegistry {
    FakeRegistry::builder()
        .auth(AuthMode::Bearer {
            token_field: TokenField::Token,
            expires_in: Some(1),
        })
        .stale_token_challenge("Basic realm=\"harbor\"")
        .token_logins(TokenLogins {
            basic: vec![(ROBOT.into(), "s3cret".into())],
            refresh_tokens: vec!["s3cret".into()],
            post: false,
        })
        .start()
}

fn harbor_pull(registry: &FakeRegistry, dir: &std::path::Path, cmd: &mut std::process::Command) {
    let out = run(cmd.args([
        "-j",
        "1",
        "--registry",
        "harbor",
        "--endpoint",
        &registry.url(),
        "harbor.example/proj/app:1",
        "-o",
        "out.tar",
    ]));
    out.assert_success();
    assert!(dir.join("out.tar").is_file());
}

/// Every token request was a GET carrying the robot's login as Basic, `$` and all, and no
/// API request carried Basic.
fn assert_tokens_by_get_as_the_robot(registry: &FakeRegistry) {
    let tokens = registry.token_requests();
    assert!(!tokens.is_empty());
    for t in &tokens {
        assert_eq!(t.method, "GET", "{t:?}");
        let mut headers = axum::http::HeaderMap::new();
        let auth = t
            .authorization
            .as_deref()
            .expect("token GET carried a login");
        headers.insert(axum::http::header::AUTHORIZATION, auth.parse().unwrap());
        assert_eq!(
            basic_login(&headers),
            Some((ROBOT.to_string(), "s3cret".to_string()))
        );
    }
    let basic: Vec<String> = api_requests(registry)
        .into_iter()
        .filter(|r| {
            r.authorization
                .as_deref()
                .is_some_and(|a| a.starts_with("Basic "))
        })
        .map(|r| r.path_and_query)
        .collect();
    assert!(basic.is_empty(), "password sent to the API: {basic:?}");
}

#[test]
fn harbor_basic_rechallenge_of_a_stale_token_gets_a_new_token_not_the_password() {
    let registry = harbor();
    let image = image();
    registry.push_image("proj/app", "1", &image);
    stall_first_layer(&registry, &image);
    let dir = fresh_dir("harbor-stale-");
    let user = format!("{ROBOT}:s3cret");
    harbor_pull(&registry, &dir, pull_command(&dir).args(["--user", &user]));
    assert_entries_hold_image(&read_tar(&dir.join("out.tar")), &image);
    let tokens = registry.token_requests();
    assert!(issued(&tokens).len() >= 2, "re-scoped: {tokens:?}");
    assert!(
        api_requests(&registry).iter().any(|r| r.path() == "/v2/"),
        "asked /v2/ for the Bearer challenge"
    );
    assert_tokens_by_get_as_the_robot(&registry);
}

#[test]
fn harbor_identity_token_is_sent_by_get_since_its_token_service_refuses_post() {
    let registry = harbor();
    registry.push_image("proj/app", "1", &image());
    let dir = fresh_dir("harbor-identity-");
    let auth_file = dir.join("auth.json");
    let mut auths = serde_json::Map::new();
    auths.insert(
        registry.host(),
        serde_json::json!({ "username": ROBOT, "identitytoken": "s3cret" }),
    );
    let file = serde_json::json!({ "auths": auths });
    std::fs::write(&auth_file, file.to_string()).unwrap();
    harbor_pull(
        &registry,
        &dir,
        pull_command(&dir).env("REGISTRY_AUTH_FILE", &auth_file),
    );
    assert_tokens_by_get_as_the_robot(&registry);
}

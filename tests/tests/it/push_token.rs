//! Pushing into a real distribution registry locked by token auth (the way Harbor, GitLab and
//! docker_auth lock one): drag asks the token service for `pull,push` on the destination and
//! `pull` on a mount source, with a login from `drag login`'s file or `--user`, and the
//! registry, which checks every token itself, takes the push. A login granted only `pull` is
//! refused with the registry's reason, and nothing lands.

use std::io::Write;
use std::process::Stdio;

use drag_tests::bytes::noise;
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::{
    drag, run, Account, Compression, Image, ImageBuilder, LayerBuilder, ManifestFormat,
    RealRegistry, TokenService,
};

fn image() -> Image {
    ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .layer(
            LayerBuilder::new()
                .file("bin/tool", noise(40_000, 90), 0o755)
                .build(Compression::Gzip),
        )
        .build()
}

/// A layout of [`image`] pulled from a plain registry into `dir/layout`, and the image.
async fn layout(dir: &std::path::Path) -> Option<Image> {
    let source = RealRegistry::start().await?;
    let img = image();
    source.push_image("src/app", "1", &img).await;
    pull(
        dir,
        &[
            "-q",
            "--format",
            "oci",
            "-o",
            "layout",
            &format!("{}/src/app:1", source.host()),
        ],
    )
    .assert_success();
    Some(img)
}

fn accounts() -> Vec<Account> {
    vec![
        Account::new("pusher", "s3cret", "team/", "pull,push"),
        Account::new("reader", "r3ad", "", "pull"),
    ]
}

/// Whether some request to the token service by `user` asked for every one of `scopes` and
/// was granted every one of them.
fn asked_and_granted(tokens: &TokenService, user: &str, scopes: &[&str]) -> bool {
    tokens.requests().iter().any(|r| {
        r.user.as_deref() == Some(user)
            && scopes.iter().all(|s| r.scopes.iter().any(|x| x == s))
            && scopes.iter().all(|s| r.granted.iter().any(|x| x == s))
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_with_drag_logins_file_gets_a_pull_push_token_and_lands() {
    let dir = fresh_dir("push-token-");
    let Some(img) = layout(&dir).await else {
        return;
    };
    let tokens = TokenService::start(accounts());
    let Some(dest) = RealRegistry::start_token(&tokens).await else {
        return;
    };
    let authfile = dir.join("auth.json");
    let mut login = drag()
        .args(["login", "-u", "pusher", "--password-stdin", "--authfile"])
        .arg(&authfile)
        .arg(dest.host())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run drag login");
    login.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let login = login.wait_with_output().unwrap();
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );

    let target = format!("{}/team/app:1", dest.host());
    let out = run(drag()
        .args(["push", "-q", "--authfile"])
        .arg(&authfile)
        .arg(dir.join("layout"))
        .arg(&target));
    out.assert_success();
    assert_eq!(out.stdout_text().trim(), img.digest());
    assert!(
        asked_and_granted(&tokens, "pusher", &["repository:team/app:pull,push"]),
        "{:#?}",
        tokens.requests()
    );

    // The registry has it: the reader's login pulls it back, digest and all.
    let back = run(drag()
        .args(["inspect", "--user", "reader:r3ad", "--raw"])
        .arg(&target));
    back.assert_success();
    assert_eq!(
        drag_tests::sha256_digest(back.stdout.as_slice()),
        img.digest()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_within_a_token_registry_asks_pull_on_the_mount_source_and_mounts() {
    let dir = fresh_dir("copy-token-");
    let Some(img) = layout(&dir).await else {
        return;
    };
    let tokens = TokenService::start(accounts());
    let Some(dest) = RealRegistry::start_token(&tokens).await else {
        return;
    };
    let first = format!("{}/team/app:1", dest.host());
    run(drag()
        .args(["push", "-q", "--user", "pusher:s3cret"])
        .arg(dir.join("layout"))
        .arg(&first))
    .assert_success();

    let second = format!("{}/team/again:1", dest.host());
    let out = run(drag().args([
        "copy",
        "--user",
        "pusher:s3cret",
        "--dest-user",
        "pusher:s3cret",
        &first,
        &second,
    ]));
    out.assert_success();
    assert_eq!(out.stdout_text().trim(), img.digest());
    assert!(
        asked_and_granted(
            &tokens,
            "pusher",
            &[
                "repository:team/again:pull,push",
                "repository:team/app:pull"
            ]
        ),
        "{:#?}",
        tokens.requests()
    );
    // Every blob was mounted from team/app, none sent again.
    let blobs = 1 + img.layers.len();
    assert!(
        out.stderr.contains(&format!(
            "0 blobs sent (0 B), 0 already there, {blobs} mounted"
        )),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_granted_only_pull_is_refused_with_the_registrys_reason_and_nothing_lands() {
    let dir = fresh_dir("push-token-denied-");
    if layout(&dir).await.is_none() {
        return;
    }
    let tokens = TokenService::start(accounts());
    let Some(dest) = RealRegistry::start_token(&tokens).await else {
        return;
    };
    let target = format!("{}/team/app:1", dest.host());
    let says = [
        (&["--user", "reader:r3ad"][..], "may pull but not push here"),
        (&[][..], "needs a login: `drag login"),
    ];
    for (login, hint) in says {
        let out = run(drag()
            .args(["push", "-q"])
            .args(login)
            .arg(dir.join("layout"))
            .arg(&target));
        assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains("team/app"), "{}", out.stderr);
        assert!(out.stderr.contains("HTTP 401"), "{}", out.stderr);
        assert!(out.stderr.contains(hint), "{}", out.stderr);
    }
    assert!(
        tokens
            .requests()
            .iter()
            .any(|r| r.user.as_deref() == Some("reader")
                && r.scopes
                    .iter()
                    .any(|s| s == "repository:team/app:pull,push")
                && r.granted.iter().all(|g| !g.contains("push"))),
        "{:#?}",
        tokens.requests()
    );
    let pushed = run(drag()
        .args(["inspect", "--user", "reader:r3ad", "--raw"])
        .arg(&target));
    assert_eq!(pushed.status.code(), Some(1), "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains("MANIFEST_UNKNOWN"),
        "{}",
        pushed.stderr
    );
}

//! Closed networks often reach registries only through an HTTP proxy: drag honours the usual
//! `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` variables, as curl, Docker and skopeo do.

use drag_tests::archive::assert_archive_holds_image;
use drag_tests::drag_cli::{fresh_dir, pull_command};
use drag_tests::{run, Compression, FakeRegistry, ImageBuilder, LayerBuilder, Listener};

#[test]
fn requests_go_through_the_proxy_in_http_proxy() {
    // The fake registry plays the proxy: it serves what the absolute-form requests ask for,
    // and records which host they named.
    let proxy = FakeRegistry::start();
    let image = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("via/proxy", "hello\n", 0o644)
                .build(Compression::Gzip),
        )
        .build();
    proxy.push_image("team/app", "1", &image);
    let dir = fresh_dir("proxy-");
    run(pull_command(&dir).env("HTTP_PROXY", proxy.url()).args([
        "-q",
        "--insecure",
        "--endpoint",
        "http://registry.invalid:5000",
        "-o",
        "app.tar",
        "team/app:1",
    ]))
    .assert_success();
    assert_archive_holds_image(&dir.join("app.tar"), &image);
    let requests: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.listener == Listener::Registry)
        .collect();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(
            r.absolute_authority.as_deref(),
            Some("registry.invalid:5000"),
            "{} {} did not go through the proxy",
            r.method,
            r.path_and_query
        );
    }

    // NO_PROXY exempts a host. Port 9 on loopback has no listener: through the proxy the
    // pull would succeed, directly it is refused.
    let endpoint = "http://127.0.0.1:9";
    let pull = |no_proxy: Option<&str>, output: &str| {
        let mut command = pull_command(&dir);
        command.env("HTTP_PROXY", proxy.url());
        if let Some(hosts) = no_proxy {
            command.env("NO_PROXY", hosts);
        }
        run(command.args([
            "-q",
            "--retries",
            "0",
            "--endpoint",
            endpoint,
            "-o",
            output,
            "team/app:1",
        ]))
    };
    pull(None, "proxied.tar").assert_success();
    assert_archive_holds_image(&dir.join("proxied.tar"), &image);
    let direct = pull(Some("127.0.0.1"), "direct.tar");
    assert_eq!(direct.status.code(), Some(1), "{}", direct.stderr);
    assert!(direct.stderr.contains("onnect"), "{}", direct.stderr);
    assert!(!dir.join("direct.tar").exists());
}

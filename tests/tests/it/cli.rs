//! The CLI contract: adapters, exit codes, one-line errors, clean stdout.

use drag_tests::{drag, run};

#[test]
fn adapters_lists_every_linked_adapter() {
    let out = run(drag().arg("adapters"));
    out.assert_success();
    let text = out.stdout_text();
    for (name, host) in [
        ("dockerhub", "registry-1.docker.io"),
        ("mcr", "mcr.microsoft.com"),
        ("oci", "(any other host)"),
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("adapter {name} missing from `drag adapters`:\n{text}"));
        assert!(line.contains(host), "{line}");
    }
}

#[test]
fn malformed_reference_is_a_usage_error_naming_the_problem() {
    for (bad, phrase) in [
        ("Alpine/UPPER:1", "lowercase"),
        ("alpine:bad tag", "whitespace"),
        ("alpine@sha256:../../etc/passwd", "digest"),
        ("", "empty"),
    ] {
        let out = run(drag().args(["pull", bad]));
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", out.stderr);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line for {bad:?}: {}", out.stderr);
        assert!(lines[0].starts_with("drag: error: "), "{}", lines[0]);
        assert!(lines[0].contains(phrase), "{bad:?}: {}", lines[0]);
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn malformed_platform_and_options_are_usage_errors() {
    let out = run(drag().args(["pull", "--platform", "linux//", "alpine"]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    let out = run(drag().args(["pull", "--skip-foreign", "alpine"]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--format oci"), "{}", out.stderr);
    let out = run(drag().args(["pull", "--registry", "nosuch", "alpine"]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    let out = run(drag().args(["pull", "--frobnicate", "alpine"]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
}

#[test]
fn plain_http_to_a_remote_host_is_refused_without_insecure() {
    let out = run(drag().args([
        "pull",
        "--endpoint",
        "http://registry.example:5000",
        "alpine",
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("plain HTTP"), "{}", out.stderr);
}

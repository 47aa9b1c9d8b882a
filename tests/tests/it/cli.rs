//! The CLI contract: adapters, exit codes, one-line errors, clean stdout.

use drag_tests::{drag, run};

/// `drag adapters` lists exactly the adapters adapters/all declares (its Cargo.toml's
/// `drag-adapter-*` lines), each with the hosts and host patterns it claims.
#[test]
fn adapters_lists_every_linked_adapter() {
    let out = run(drag().arg("adapters"));
    out.assert_success();
    let text = out.stdout_text();
    let mut declared = drag_adapters::NAMES.to_vec();
    declared.sort_unstable();
    let listed: Vec<&str> = text
        .lines()
        .skip(1)
        // Continuation lines of a wrapped HOSTS cell start blank.
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        listed, declared,
        "`drag adapters` against adapters/all:\n{text}"
    );

    // The adapters this test binary links are the same ones; their hosts are on their lines.
    let linked = drag_core::adapter::all();
    let names: Vec<&str> = linked.iter().map(|a| a.name()).collect();
    assert_eq!(names, declared, "adapters registered in the test binary");
    let lines: Vec<&str> = text.lines().collect();
    for adapter in linked {
        let at = lines
            .iter()
            .position(|l| l.split_whitespace().next() == Some(adapter.name()))
            .unwrap_or_else(|| panic!("{} missing:\n{text}", adapter.name()));
        let line = lines[at];
        assert!(line.ends_with(adapter.summary()), "{line}");
        if adapter.is_catch_all() {
            assert!(line.contains("(any other host)"), "{line}");
        } else if adapter.hosts().is_empty() {
            let cell = format!("(self-hosted: --registry {})", adapter.name());
            assert!(line.contains(&cell), "{line}");
        } else {
            // Long host lists wrap onto indented lines below, each but the last ending in a
            // comma: every host is there, in order.
            let more = lines[at + 1..]
                .iter()
                .take_while(|l| l.starts_with(' '))
                .copied();
            let block: Vec<&str> = std::iter::once(line)
                .chain(more)
                .map(|l| l.strip_suffix(adapter.summary()).unwrap_or(l))
                .collect();
            let words: Vec<&str> = block
                .iter()
                .flat_map(|l| l.split_whitespace())
                .skip(1)
                .map(|w| w.trim_end_matches(','))
                .collect();
            assert_eq!(words, adapter.hosts(), "{}", block.join("\n"));
        }
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

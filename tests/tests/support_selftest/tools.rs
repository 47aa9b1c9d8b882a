use drag_tests::require_tool;
use std::process::Command;

use drag_tests::tools::{find_tool, skip, write_skip, HIDE_TOOLS_ENV, REQUIRE_REAL_TOOLS_ENV};

#[test]
fn finds_installed_tools() {
    let sh = require_tool("sh").expect("every machine has sh");
    assert!(sh.is_absolute() && sh.ends_with("sh"));
}

#[test]
fn missing_tools_skip_or_fail_as_the_environment_says() {
    let name = "drag-tests-no-such-tool";
    assert_eq!(find_tool(name), None);
    if std::env::var(REQUIRE_REAL_TOOLS_ENV).as_deref() == Ok("1") {
        let panic = std::panic::catch_unwind(|| require_tool(name)).unwrap_err();
        let message = panic.downcast_ref::<String>().unwrap();
        assert_eq!(
            message,
            "required tool drag-tests-no-such-tool is missing (DRAG_REQUIRE_REAL_TOOLS=1)"
        );
    } else {
        assert_eq!(require_tool(name), None);
    }
}

#[test]
fn skip_note_names_the_test_and_the_reason_on_one_line() {
    let mut out = Vec::new();
    write_skip(
        &mut out,
        "real_registry::pulls",
        format_args!("{} not installed", "skopeo"),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "SKIPPED real_registry::pulls: skopeo not installed\n"
    );
}

/// Not a check of its own: the child process that
/// `a_skip_reaches_the_real_stderr_of_a_passing_test` runs.
#[test]
#[ignore = "run as a child by a_skip_reaches_the_real_stderr_of_a_passing_test"]
fn skipping_child() {
    assert_eq!(require_tool("drag-tests-no-such-tool"), None);
}

/// libtest captures `eprintln!` of a passing test and drops it, so a skip
/// must bypass the capture: run a skipping test in a child test process,
/// with capture on as in a normal `cargo test`, and look at its stderr.
#[test]
fn a_skip_reaches_the_real_stderr_of_a_passing_test() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "tools::skipping_child"])
        .env_remove(REQUIRE_REAL_TOOLS_ENV)
        .env_remove("RUST_TEST_NOCAPTURE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(
        stderr
            .lines()
            .any(|l| l == "SKIPPED tools::skipping_child: drag-tests-no-such-tool not installed"),
        "{stderr}"
    );
}

/// Not a check of its own: the child process that
/// `a_skip_fails_the_test_when_real_tools_are_required` runs.
#[test]
#[ignore = "run as a child by a_skip_fails_the_test_when_real_tools_are_required"]
fn skipping_for_want_of_root_child() {
    skip("chroot needs root");
}

/// With the tools required, a skip for any reason (here not a tool) fails
/// the test instead.
#[test]
fn a_skip_fails_the_test_when_real_tools_are_required() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "tools::skipping_for_want_of_root_child",
        ])
        .env(REQUIRE_REAL_TOOLS_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("1 failed"), "{stdout}");
    assert!(
        stdout.contains(
            "cannot run tools::skipping_for_want_of_root_child: chroot needs root (DRAG_REQUIRE_REAL_TOOLS=1)"
        ),
        "{stdout}"
    );
    assert!(!stderr.contains("SKIPPED"), "{stderr}");
}

/// Not a check of its own: the child process that
/// `a_hidden_tool_is_missing` runs.
#[test]
#[ignore = "run as a child by a_hidden_tool_is_missing"]
fn hidden_sh_child() {
    assert_eq!(find_tool("sh"), None);
    assert!(find_tool("env").is_some());
}

#[test]
fn a_hidden_tool_is_missing() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "tools::hidden_sh_child"])
        .env(HIDE_TOOLS_ENV, "drag-tests-other, sh")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

//! Finding the real external programs some tests drive (skopeo, podman,
//! umoci, docker-registry).
//!
//! A developer without them should still get a green run with a visible
//! note, while CI, which installs them, must not silently skip: it sets
//! `DRAG_REQUIRE_REAL_TOOLS=1` to turn a missing tool into a failure.
//!
//! Every skip goes through [`skip`], so the rule is written once. The note
//! is written to the process's real stderr, not with `eprintln!`: libtest
//! captures `eprintln!` and throws it away for a passing test, which made a
//! skipped test look exactly like a passing one.

use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable that makes a missing tool a test failure.
pub const REQUIRE_REAL_TOOLS_ENV: &str = "DRAG_REQUIRE_REAL_TOOLS";

/// Comma-separated tool names treated as missing, so a machine that has
/// them can still show what a machine without them does (the tools live in
/// system directories, so shortening `PATH` does not hide them).
pub const HIDE_TOOLS_ENV: &str = "DRAG_TESTS_HIDE_TOOLS";

/// Directories searched after `PATH`: where Debian puts admin tools, which a
/// non-root `PATH` often lacks.
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"];

/// The path of executable `name`, or `None` after [`skip`]ping with
/// `NAME not installed` (panics instead when `DRAG_REQUIRE_REAL_TOOLS=1`).
///
/// ```no_run
/// let Some(skopeo) = drag_tests::require_tool("skopeo") else { return };
/// ```
pub fn require_tool(name: &str) -> Option<PathBuf> {
    if let Some(path) = find_tool(name) {
        return Some(path);
    }
    if real_tools_required() {
        panic!("required tool {name} is missing ({REQUIRE_REAL_TOOLS_ENV}=1)");
    }
    skip(format_args!("{name} not installed"));
    None
}

/// Whether `DRAG_REQUIRE_REAL_TOOLS=1`: a skip must then be a failure.
pub fn real_tools_required() -> bool {
    std::env::var(REQUIRE_REAL_TOOLS_ENV).as_deref() == Ok("1")
}

/// Gives up on the current test because the machine lacks what it needs
/// (a tool, root, a static binary): panics when `DRAG_REQUIRE_REAL_TOOLS=1`,
/// otherwise writes `SKIPPED <test>: <reason>` to the real stderr, where a
/// normal `cargo test` run shows it. The caller then returns.
pub fn skip(reason: impl Display) {
    if real_tools_required() {
        panic!(
            "cannot run {}: {reason} ({REQUIRE_REAL_TOOLS_ENV}=1)",
            current_test()
        );
    }
    // Not `eprintln!`: that goes to libtest's capture (see the module doc).
    // A failed write to stderr leaves nothing better to report to.
    let _ = write_skip(&mut std::io::stderr().lock(), &current_test(), reason);
}

/// Writes the one-line skip note for `test` to `out`.
pub fn write_skip(out: &mut impl Write, test: &str, reason: impl Display) -> std::io::Result<()> {
    writeln!(out, "SKIPPED {test}: {reason}")
}

/// The running test's name: libtest names each test's thread after it, and
/// `#[tokio::test]` runs the test body on that thread too.
fn current_test() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "<unnamed test>".to_owned(),
    }
}

/// The path of executable `name` on `PATH` or in the usual system
/// directories; `None` when missing or hidden by `DRAG_TESTS_HIDE_TOOLS`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    if is_hidden(name) {
        return None;
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_hidden(name: &str) -> bool {
    std::env::var(HIDE_TOOLS_ENV).is_ok_and(|hidden| hidden.split(',').any(|h| h.trim() == name))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs a real tool to completion: its stdout, or a panic with its stderr unless it succeeded.
#[track_caller]
pub fn stdout_of(command: &mut std::process::Command) -> String {
    let out = command
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`stdout_of`] `program ARGS...`.
#[track_caller]
pub fn tool(program: &Path, args: &[&str]) -> String {
    stdout_of(std::process::Command::new(program).args(args))
}

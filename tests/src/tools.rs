//! Finding the real external programs some tests drive (skopeo, podman,
//! umoci, docker-registry).
//!
//! A developer without them should still get a green run with a visible
//! note, while CI, which installs them, must not silently skip: it sets
//! `DRAG_REQUIRE_REAL_TOOLS=1` to turn a missing tool into a failure.

use std::path::{Path, PathBuf};

/// The environment variable that makes a missing tool a test failure.
pub const REQUIRE_REAL_TOOLS_ENV: &str = "DRAG_REQUIRE_REAL_TOOLS";

/// Directories searched after `PATH`: where Debian puts admin tools, which a
/// non-root `PATH` often lacks.
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"];

/// The path of executable `name`, or `None` after printing
/// `SKIPPED: NAME not installed` (panics instead when
/// `DRAG_REQUIRE_REAL_TOOLS=1`).
///
/// ```no_run
/// let Some(skopeo) = drag_tests::require_tool("skopeo") else { return };
/// ```
pub fn require_tool(name: &str) -> Option<PathBuf> {
    if let Some(path) = find_tool(name) {
        return Some(path);
    }
    if std::env::var(REQUIRE_REAL_TOOLS_ENV).as_deref() == Ok("1") {
        panic!("required tool {name} is missing ({REQUIRE_REAL_TOOLS_ENV}=1)");
    }
    eprintln!("SKIPPED: {name} not installed");
    None
}

/// The path of executable `name` on `PATH` or in the usual system directories.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

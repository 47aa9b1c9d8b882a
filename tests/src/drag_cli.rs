//! Building and running the real `drag` binary, as users run it.
//!
//! Integration tests exercise the CLI end to end, so they need the binary
//! built from this workspace. Cargo only builds a package's own binaries for
//! its tests, and `drag-cli` is another package, so the first caller builds
//! it with a nested `cargo build` into the same target directory and
//! profile as the running test binary.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long [`run`] lets `drag` run before killing it.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// Proxy variables that would route drag's loopback traffic elsewhere.
const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

/// Path of the `drag` binary, built on first call (once per process).
/// Panics with cargo's output if the build fails.
pub fn drag_bin() -> PathBuf {
    match try_drag_bin() {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

/// Like [`drag_bin`], but a failed build is an `Err` with cargo's output.
pub fn try_drag_bin() -> Result<PathBuf, String> {
    static DRAG_BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DRAG_BIN.get_or_init(build_drag).clone()
}

/// Where the running test binary's build lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildLayout {
    /// E.g. `/work/main/target`.
    pub target_dir: PathBuf,
    /// E.g. `/work/main/target/debug`.
    pub profile_dir: PathBuf,
    /// The cargo profile that builds into `profile_dir` (`dev` for `debug`).
    pub profile: String,
}

impl BuildLayout {
    /// The layout of the running executable.
    pub fn current() -> BuildLayout {
        let exe = std::env::current_exe().expect("current_exe");
        BuildLayout::of_exe(&exe)
    }

    /// Test binaries live in `target/<profile>/deps/`; others in `target/<profile>/`.
    pub fn of_exe(exe: &Path) -> BuildLayout {
        let parent = exe.parent().expect("executable has a directory");
        let profile_dir = if parent.file_name().is_some_and(|n| n == "deps") {
            parent.parent().expect("deps has a parent")
        } else {
            parent
        };
        let target_dir = profile_dir
            .parent()
            .expect("profile directory has a parent");
        let profile = match profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("debug")
        {
            "debug" => "dev".to_string(),
            other => other.to_string(),
        };
        BuildLayout {
            target_dir: target_dir.to_path_buf(),
            profile_dir: profile_dir.to_path_buf(),
            profile,
        }
    }
}

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate is inside the workspace")
        .to_path_buf()
}

fn build_drag() -> Result<PathBuf, String> {
    let layout = BuildLayout::current();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    // Cargo gives a test the variables of the package under test (CARGO_MANIFEST_DIR, ...).
    // Build scripts that watch them (ring's does) would see them change and rebuild, and so
    // would everything above them on the next `cargo test`: the nested build must not inherit
    // them.
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(is_package_variable) {
            command.env_remove(key);
        }
    }
    let output = command
        .args(["build", "-p", "drag-cli", "--bin", "drag", "--profile"])
        .arg(&layout.profile)
        .arg("--target-dir")
        .arg(&layout.target_dir)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {cargo:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building drag failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let bin = layout.profile_dir.join("drag");
    if !bin.is_file() {
        return Err(format!("cargo built drag but {} is missing", bin.display()));
    }
    Ok(bin)
}

/// The variables cargo sets for the package being built or tested, as opposed to settings
/// of cargo itself (`CARGO_HOME`, `CARGO_TARGET_DIR`, `CARGO_PROFILE_*`, ...).
fn is_package_variable(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
    ];
    EXACT.contains(&key) || key.starts_with("CARGO_PKG_") || key.starts_with("CARGO_BIN_EXE_")
}

/// A `drag` command with a fresh `DRAG_CACHE_DIR`, `NO_COLOR=1`, no proxy
/// variables, stdin closed, and none of the user's logins or certs.d
/// directories (the auth-file and config variables point into an empty
/// directory). Later `.env(...)` calls override these.
pub fn drag() -> Command {
    let mut command = Command::new(drag_bin());
    let home = fresh_dir("drag-home-");
    command
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("REGISTRY_AUTH_FILE", home.join("auth.json"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("DRAG_CACHE_DIR", fresh_dir("drag-cache-"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    for var in PROXY_VARS {
        command.env_remove(var);
    }
    command
}

/// `program`, meant to start drag itself (`/usr/bin/time`, `script`, `sh -c 'umask ..'`), with
/// the environment [`drag`] sets up: fresh cache, no logins, no proxies, stdin closed.
pub fn with_drag_env(program: impl AsRef<OsStr>) -> Command {
    let template = drag();
    let mut command = Command::new(program);
    for (key, value) in template.get_envs() {
        match value {
            Some(v) => command.env(key, v),
            None => command.env_remove(key),
        };
    }
    command.stdin(Stdio::null());
    command
}

/// `drag` started by `sh` right after the shell command `setup` (a `umask`, a `ulimit`), so
/// drag inherits what it sets; with [`drag`]'s environment. The test adds drag's arguments.
pub fn drag_after(setup: &str) -> Command {
    let mut command = with_drag_env("sh");
    command
        .arg("-c")
        .arg(format!("{setup} && exec \"$0\" \"$@\""))
        .arg(drag_bin());
    command
}

/// `drag pull` run in `dir`, for a test to add arguments or environment before [`run`]ning it.
pub fn pull_command(dir: &Path) -> Command {
    let mut command = drag();
    command.current_dir(dir).arg("pull");
    command
}

/// `drag pull ARGS...` run in `dir` with a fresh cache: the pull most tests make.
pub fn pull(dir: &Path, args: &[&str]) -> DragOutput {
    run(pull_command(dir).args(args))
}

/// A new empty directory under `<target>/tmp/drag-tests/`. It outlives the
/// test on purpose (a `Command` can't own a `TempDir`), and lives in the
/// target directory so `cargo clean` removes it.
pub fn fresh_dir(prefix: &str) -> PathBuf {
    let parent = BuildLayout::current()
        .target_dir
        .join("tmp")
        .join("drag-tests");
    std::fs::create_dir_all(&parent).expect("create target/tmp/drag-tests");
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&parent)
        .expect("create a fresh directory")
        .keep()
}

/// What a finished `drag` run produced.
#[derive(Clone, Debug)]
pub struct DragOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl DragOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics, showing stderr, unless the run succeeded.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success(),
            "drag failed ({}); stderr:\n{}",
            self.status,
            self.stderr
        );
        self
    }

    /// Panics, showing stdout, unless the run failed.
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(
            !self.success(),
            "drag unexpectedly succeeded; stdout:\n{}\nstderr:\n{}",
            self.stdout_text(),
            self.stderr
        );
        self
    }
}

/// Runs `command` to completion (killed after [`DEFAULT_RUN_TIMEOUT`]),
/// capturing its output; stderr is echoed when it fails. Blocking is fine in
/// async tests: the in-process servers run on their own threads.
pub fn run(command: &mut Command) -> DragOutput {
    run_with_timeout(command, DEFAULT_RUN_TIMEOUT)
}

/// [`run`] with a different deadline; panics if it passes.
pub fn run_with_timeout(command: &mut Command, timeout: Duration) -> DragOutput {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {command:?}: {e}"));
    // Drain both pipes concurrently so a chatty child can't block on a full pipe.
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));

    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for drag") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.join().unwrap_or_default();
            panic!(
                "{command:?} still running after {timeout:?}; killed. stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = DragOutput {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned(),
    };
    if !output.success() {
        eprintln!(
            "{command:?} exited with {}; stderr:\n{}",
            output.status, output.stderr
        );
    }
    output
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = pipe.read_to_end(&mut buffer);
        buffer
    })
}

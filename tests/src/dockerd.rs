//! A private Docker daemon (Debian's `docker.io`, Docker 20.10), to check that what drag
//! writes loads with `docker load`.
//!
//! Starting dockerd takes seconds, so a test binary starts one, lazily, and its tests share it
//! ([`Dockerd::shared`]); each test loads images of its own, under names of its own. It runs
//! without networking (vfs storage, no iptables, no bridge), on its own socket, with its data
//! root, exec root and pid file in a temporary directory.
//!
//! A daemon held in a static is never dropped, and a test binary can end by a panic or a
//! signal. So dockerd is started by a small watchdog shell that holds a pipe from the test
//! process: when the pipe closes (on [`Drop`], or when the process ends however it ends), the
//! watchdog stops dockerd by its pid (SIGTERM, which also stops the containerd it started;
//! SIGKILL after 20 s) and removes the temporary directory. Nothing is left running.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::tools::{find_tool, require_tool, skip};

/// How long dockerd may take to answer on its socket.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// The watchdog: `$1` is the daemon's directory, the rest is dockerd's command line. It
/// writes dockerd's pid to `$1/started`, then waits for its stdin to close.
const WATCHDOG: &str = r#"
dir=$1; shift
"$@" >"$dir/dockerd.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/started"
while read -r _; do :; done
kill -TERM "$pid" 2>/dev/null
( sleep 20; kill -KILL "$pid" 2>/dev/null ) >/dev/null 2>&1 &
killer=$!
wait "$pid"
kill "$killer" 2>/dev/null
rm -rf "$dir"
"#;

/// A running dockerd and the `docker` client that talks to it.
pub struct Dockerd {
    docker: PathBuf,
    dir: PathBuf,
    pid: u32,
    /// The watchdog and the pipe whose closing stops dockerd.
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
}

impl Dockerd {
    /// The daemon this test binary shares, started on first use. `None` after
    /// [`skip`]ping when dockerd or docker is missing, or dockerd cannot start here (a
    /// failure under `DRAG_REQUIRE_REAL_TOOLS=1`).
    pub fn shared() -> Option<&'static Dockerd> {
        static SHARED: OnceLock<Result<Dockerd, String>> = OnceLock::new();
        let dockerd = require_tool("dockerd")?;
        let docker = require_tool("docker")?;
        match SHARED.get_or_init(|| Dockerd::start(&dockerd, &docker)) {
            Ok(daemon) => Some(daemon),
            Err(why) => {
                skip(why);
                None
            }
        }
    }

    /// Starts a daemon of one's own, stopped when dropped.
    pub fn start(dockerd: &Path, docker: &Path) -> Result<Dockerd, String> {
        Dockerd::start_with(dockerd, docker, &[])
    }

    /// [`Dockerd::start`] with more dockerd arguments (`--config-file=daemon.json`).
    pub fn start_with(dockerd: &Path, docker: &Path, extra: &[String]) -> Result<Dockerd, String> {
        if !is_root() {
            return Err("dockerd needs root".into());
        }
        let started = Instant::now();
        // In the system temp dir: containerd's socket lives under the exec root, and a
        // socket path must fit in 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("drag-dockerd-")
            .tempdir()
            .map_err(|e| format!("creating a dockerd directory: {e}"))?
            .keep();
        let sh = find_tool("sh").ok_or("no sh")?;
        let mut child = Command::new(sh)
            .arg("-c")
            .arg(WATCHDOG)
            .arg("drag-dockerd-watchdog")
            .arg(&dir)
            .arg(dockerd)
            .args([
                "--storage-driver",
                "vfs",
                "--iptables=false",
                "--ip-masq=false",
                "--bridge=none",
            ])
            .arg(format!(
                "--host=unix://{}",
                dir.join("docker.sock").display()
            ))
            .arg(format!("--data-root={}", dir.join("root").display()))
            .arg(format!("--exec-root={}", dir.join("exec").display()))
            .arg(format!("--pidfile={}", dir.join("dockerd.pid").display()))
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting dockerd's watchdog: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut daemon = Dockerd {
            docker: docker.to_path_buf(),
            dir,
            pid: 0,
            watchdog: Mutex::new(Some((child, stdin))),
        };
        daemon.pid = daemon.wait_for_pid()?;
        daemon.wait_until_ready()?;
        let version = daemon.docker(&["version", "--format", "{{.Server.Version}}"]);
        // Where a normal run shows it (not libtest's capture): how long the module waits.
        let _ = writeln!(
            std::io::stderr().lock(),
            "dockerd {} (pid {}) ready in {:.1} s",
            version.trim(),
            daemon.pid,
            started.elapsed().as_secs_f64()
        );
        Ok(daemon)
    }

    fn wait_for_pid(&self) -> Result<u32, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = std::fs::read_to_string(self.dir.join("started")) {
                if let Ok(pid) = text.trim().parse() {
                    return Ok(pid);
                }
            }
            if Instant::now() > deadline {
                return Err("dockerd's watchdog did not start it".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_until_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let answered = self
                .command()
                .args(["version", "--format", "{{.Server.Version}}"])
                .stdin(Stdio::null())
                .output()
                .is_ok_and(|o| o.status.success());
            if answered {
                return Ok(());
            }
            if !self.is_running() {
                return Err(format!("dockerd exited:\n{}", self.log_tail()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "dockerd did not answer within {START_TIMEOUT:?}:\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether dockerd is alive (a zombie is not: the watchdog reaps it only at the end).
    fn is_running(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).is_ok_and(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        })
    }

    /// The last lines dockerd logged, for a failure message.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The socket of the containerd this dockerd started (under its exec root), for `ctr`.
    pub fn containerd_socket(&self) -> PathBuf {
        self.dir
            .join("exec")
            .join("containerd")
            .join("containerd.sock")
    }

    /// dockerd's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A `docker` command talking to this daemon, with a config directory of its own.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.docker);
        command
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.join("docker.sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.join("cli"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY");
        command
    }

    /// `docker ARGS...`: its stdout, or a panic with its stderr and dockerd's log.
    #[track_caller]
    pub fn docker(&self, args: &[&str]) -> String {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("could not run docker {args:?}: {e}"));
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}):\n{}\ndockerd's log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `docker load -i archive`: what it printed (`Loaded image: NAME` lines).
    #[track_caller]
    pub fn load(&self, archive: &Path) -> String {
        self.docker(&["load", "-i", &archive.display().to_string()])
    }

    /// Runs `docker load` reading `input` on its stdin, and returns its output whether it
    /// succeeded or not (the caller first checks what fed it).
    pub fn load_from(&self, input: impl Into<Stdio>) -> std::process::Output {
        self.command()
            .arg("load")
            .stdin(input)
            .output()
            .expect("run docker load")
    }

    /// The ID (`sha256:...`) of the image named `name`.
    #[track_caller]
    pub fn image_id(&self, name: &str) -> String {
        self.docker(&["image", "inspect", "--format", "{{.Id}}", name])
            .trim()
            .to_string()
    }

    /// The `RepoTags` of image `id`.
    #[track_caller]
    pub fn repo_tags(&self, id: &str) -> Vec<String> {
        let text = self.docker(&["image", "inspect", "--format", "{{json .RepoTags}}", id]);
        serde_json::from_str(text.trim()).expect("docker prints JSON")
    }

    /// Every `repository:tag` of the daemon, with its full image ID, as `docker images` lists
    /// them.
    #[track_caller]
    pub fn images(&self) -> Vec<(String, String)> {
        self.docker(&[
            "images",
            "--no-trunc",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}",
        ])
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(name, id)| (name.to_string(), id.to_string()))
        .collect()
    }

    /// The diff IDs of a loaded image.
    #[track_caller]
    pub fn diff_ids(&self, name: &str) -> Vec<String> {
        let text = self.docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            name,
        ]);
        serde_json::from_str(text.trim()).expect("docker prints JSON")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let taken = self.watchdog.lock().map(|mut w| w.take());
        if let Ok(Some((mut child, stdin))) = taken {
            // Closing the pipe tells the watchdog to stop dockerd by its pid.
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// Whether this process runs as root (from `/proc`, without libc).
fn is_root() -> bool {
    std::fs::File::open("/proc/self/status").is_ok_and(|f| {
        std::io::BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
    })
}

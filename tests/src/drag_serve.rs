//! `drag serve` as a child process on a free loopback port, for the tests of the registry it
//! serves: started with [`drag`]'s environment, ready once it has printed its address, its
//! stderr (the images served, one line per request) kept for the test to read, and stopped
//! with SIGTERM as a user's Ctrl-C would (killed when dropped).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::drag_cli::drag;

/// How long `drag serve` may take to open its sources and bind.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Fresh ports to try, in case another process takes one between probing and binding.
const START_ATTEMPTS: usize = 3;

/// A running `drag serve`.
pub struct DragServe {
    child: Child,
    port: u16,
    https: bool,
    stderr: Arc<Mutex<String>>,
}

impl DragServe {
    /// `drag serve ARGS... --listen 127.0.0.1:PORT` on a free port; panics with its stderr if
    /// it does not start.
    pub fn start(args: &[&str]) -> DragServe {
        DragServe::start_with(args, |_| {})
    }

    /// [`DragServe::start`], letting `setup` change the command first (environment, wrapper).
    pub fn start_with(args: &[&str], setup: impl Fn(&mut Command)) -> DragServe {
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = crate::free_port();
            let mut command = drag();
            command
                .arg("serve")
                .args(args)
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"));
            setup(&mut command);
            match DragServe::spawn(command, port) {
                Ok(served) => return served,
                Err(stderr) if stderr.contains("Address already in use") => last = stderr,
                Err(stderr) => panic!("drag serve did not start:\n{stderr}"),
            }
        }
        panic!("drag serve found no free port:\n{last}");
    }

    /// Runs `drag serve ARGS...` expecting it to refuse to start: its stderr.
    pub fn refused(args: &[&str]) -> String {
        let port = crate::free_port();
        let out = crate::drag_cli::run_with_timeout(
            drag()
                .arg("serve")
                .args(args)
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}")),
            Duration::from_secs(60),
        );
        out.assert_failure();
        out.stderr
    }

    fn spawn(mut command: Command, port: u16) -> Result<DragServe, String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start drag serve: {e}"))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let text = stderr.lock().unwrap().clone();
            if text.contains("Ctrl-C stops") {
                return Ok(DragServe {
                    https: text.contains("on https://"),
                    child,
                    port,
                    stderr,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!("exited with {status}:\n{}", stderr.lock().unwrap()));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("not ready after {START_TIMEOUT:?}:\n{text}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `127.0.0.1:PORT`: the registry host of the images served.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` (https with TLS).
    pub fn url(&self) -> String {
        format!(
            "{}://127.0.0.1:{}",
            if self.https { "https" } else { "http" },
            self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of drag itself.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything drag serve has written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The peak resident set size so far, in bytes (VmHWM).
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("drag serve is running");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .expect("VmHWM in /proc/PID/status")
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM (as Ctrl-C would stop it) and waits up to `within`: the exit status and
    /// stderr, or a panic if it did not stop.
    pub fn stop(mut self, within: Duration) -> (ExitStatus, String) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(50));
                return (status, self.stderr());
            }
            if Instant::now() > deadline {
                panic!(
                    "drag serve still running {within:?} after SIGTERM:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for DragServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A path as a `&str` argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

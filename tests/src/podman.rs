//! A throwaway podman store, to check that what drag writes loads into a real container
//! engine.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::drag_cli::fresh_dir;
use crate::tools::require_tool;

/// A throwaway podman store (vfs, private root and runroot).
pub struct Podman {
    bin: PathBuf,
    root: PathBuf,
    /// Podman refuses a runroot longer than 50 bytes (it holds sockets), and
    /// a checkout's target directory can be deeper than that, so the runroot
    /// lives in the system temp dir and is removed with the store.
    runroot: tempfile::TempDir,
}

impl Podman {
    pub fn new() -> Option<Podman> {
        Some(Podman {
            bin: require_tool("podman")?,
            root: fresh_dir("podman-"),
            runroot: tempfile::Builder::new()
                .prefix("drag-podman-")
                .tempdir()
                .expect("create a podman runroot"),
        })
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .arg("--root")
            .arg(self.root.join("root"))
            .arg("--runroot")
            .arg(self.runroot.path())
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .expect("podman runs");
        assert!(
            out.status.success(),
            "podman {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `podman load -i archive`, then the `repository:tag` names the store holds.
    pub fn load(&self, archive: &Path) -> Vec<String> {
        self.run(&["load", "-i", &archive.display().to_string()]);
        self.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The diff IDs of a loaded image.
    pub fn diff_ids(&self, name: &str) -> serde_json::Value {
        let text = self.run(&[
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            name,
        ]);
        serde_json::from_str(text.trim()).expect("podman prints JSON")
    }
}

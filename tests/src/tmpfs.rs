//! A small tmpfs mounted for one test: a file system that really fills up (ENOSPC) or is
//! really read-only (EROFS), which `chmod` cannot give a test that runs as root.
//!
//! Mounting needs root (CI runs as root); elsewhere [`Tmpfs::mount`] skips the test visibly
//! through [`crate::tools::skip`]. The mount is undone when the value is dropped, a failing
//! test's unwinding included.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::drag_cli::fresh_dir;
use crate::tools::skip;

/// A mounted tmpfs, unmounted on drop.
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// A tmpfs of `kib` KiB on a fresh directory, or None after skipping the test when this
    /// machine will not mount one (not root, no `mount`).
    pub fn mount(kib: u64) -> Option<Tmpfs> {
        let dir = fresh_dir("tmpfs-");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k,mode=0755"),
                "tmpfs",
            ])
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                skip(format_args!(
                    "cannot mount a tmpfs (needs root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                None
            }
            Err(e) => {
                skip(format_args!("cannot run mount: {e}"));
                None
            }
        }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Makes it read-only: writes then fail with EROFS, for root too.
    pub fn make_read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {} read-only", self.dir.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily, so a process still holding a file there cannot keep it mounted.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

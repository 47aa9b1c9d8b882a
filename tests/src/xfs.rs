//! A small XFS file system on a loop device, mounted for one test: a file system that shares
//! extents between files (reflinks), which this machine's ext4 cannot show.
//!
//! Needs root, a loop device and `mkfs.xfs` (Debian: xfsprogs); without them [`Xfs::mount`]
//! skips the test visibly (a failure under `DRAG_REQUIRE_REAL_TOOLS=1`). Unmounted, and its
//! image removed, on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::drag_cli::fresh_dir;
use crate::tools::{require_tool, skip};

/// A mounted XFS, unmounted on drop.
#[derive(Debug)]
pub struct Xfs {
    dir: PathBuf,
    image: PathBuf,
}

impl Xfs {
    /// An XFS of `mib` MiB (at least 300: XFS's own minimum) on a fresh directory, or None
    /// after skipping the test.
    pub fn mount(mib: u64) -> Option<Xfs> {
        let mkfs = require_tool("mkfs.xfs")?;
        let base = fresh_dir("xfs-");
        let image = base.join("fs.img");
        let dir = base.join("mnt");
        std::fs::create_dir(&dir).expect("mount point");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(mib << 20))
            .expect("image file");
        let made = Command::new(mkfs)
            .args(["-q", "-f", "-m", "reflink=1"])
            .arg(&image)
            .output()
            .expect("run mkfs.xfs");
        assert!(
            made.status.success(),
            "mkfs.xfs: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let out = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Xfs { dir, image }),
            Ok(o) => {
                skip(format_args!(
                    "cannot mount an XFS image (needs root and a loop device): {}",
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
}

/// Whether `path`'s data shares its extents with another file, as `filefrag -v` reports it
/// (the `shared` flag); None after a skip when `filefrag` is missing.
pub fn shares_extents(path: &Path) -> Option<bool> {
    let filefrag = require_tool("filefrag")?;
    let out = Command::new(filefrag)
        .arg("-v")
        .arg(path)
        .output()
        .expect("run filefrag");
    assert!(out.status.success(), "filefrag {}", path.display());
    Some(String::from_utf8_lossy(&out.stdout).contains("shared"))
}

impl Drop for Xfs {
    fn drop(&mut self) {
        // Lazily, so a process still holding a file there cannot keep it mounted.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_file(&self.image);
    }
}

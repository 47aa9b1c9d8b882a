//! What `-o` names, looked at before anything is written, so the output never destroys it.
//!
//! A regular file (or a name not taken yet) is replaced atomically: written under a temporary
//! name beside it, renamed into place. Renaming over anything else would destroy it: as root,
//! `-o /dev/null` would replace the system's null device with a file, and `-o` onto a FIFO
//! would cut off its reader. So a character or block device or a FIFO is opened and written in
//! place, streaming, as `-o -` writes to standard output; and a symbolic link is followed, its
//! final target replaced atomically and the link kept.
//!
//! Before anything is downloaded, [`check_writable`] makes sure the output can be written
//! there: a download that can only end in "is a directory" or "read-only file system" is
//! time and, for Docker Hub, pull quota wasted.
//!
//! Following links by hand skips the kernel's `fs.protected_symlinks` check, which stops root
//! from following another user's link planted in `/tmp` (`/tmp/app.tar -> /etc/shadow`, or
//! `-> /dev/sda`). So each hop applies that rule itself.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Destination, Format};
use crate::error::{Error, Result};

/// Symlinks followed before giving up, as the kernel's own limit (ELOOP).
const MAX_LINKS: usize = 40;

/// Where the bytes of an output really go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// Standard output (`-o -`).
    Stdout,
    /// A device or FIFO: opened and written in place, from the start, as a stream.
    Stream(PathBuf),
    /// A regular file, a directory (an OCI layout) or a name not taken yet, with symlinks
    /// already followed: built beside it and renamed into place.
    Replace(PathBuf),
}

impl Place {
    /// True for the places a writer must stream into (no temporary file, no seeking).
    pub fn is_stream(&self) -> bool {
        matches!(self, Place::Stdout | Place::Stream(_))
    }
}

/// Checks, before any download, that an output in `format` can be written at `place`: no
/// directory where a tar goes, nothing but an OCI layout or an empty directory where a layout
/// goes, and a directory to build it in that takes new files (its nearest existing ancestor,
/// when directories are still to be created). Devices, FIFOs and standard output are opened
/// only when written.
pub fn check_writable(place: &Place, format: Format) -> Result<()> {
    let Place::Replace(path) = place else {
        return Ok(());
    };
    let existing = match fs::metadata(path) {
        Ok(m) => Some(m),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            None
        }
        Err(e) => return Err(Error::io_path("looking at", path, e)),
    };
    match (format, existing) {
        (Format::Oci, Some(m)) if m.is_dir() => {
            if path.join("oci-layout").is_file() {
                // Images are added to the layout in place.
                return probe(path);
            }
            let empty = fs::read_dir(path)
                .map_err(|e| Error::io_path("reading", path, e))?
                .next()
                .is_none();
            if !empty {
                return Err(Error::Usage(format!(
                    "{} exists and is not an OCI layout; choose another -o",
                    path.display()
                )));
            }
        }
        (Format::Oci, Some(_)) => {
            return Err(Error::Usage(format!(
                "{} is a file, and --format oci writes a directory (an OCI layout); choose \
                 another -o",
                path.display()
            )))
        }
        (_, Some(m)) if m.is_dir() => {
            return Err(Error::Usage(format!(
                "{} is a directory, and --format {} writes a tar file; name a file, e.g. -o {}",
                path.display(),
                format.name(),
                path.join("image.tar").display()
            )))
        }
        _ => {}
    }
    probe(&existing_ancestor(path)?)
}

/// The directory `path` goes into, or the nearest ancestor of it that exists (the writers
/// create the rest).
fn existing_ancestor(path: &Path) -> Result<PathBuf> {
    let mut dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    loop {
        match fs::metadata(&dir) {
            Ok(m) if m.is_dir() => return Ok(dir),
            Ok(_) => return Err(unwritable(&dir, not_a_directory())),
            // Not there, or under a file: the file is found further up.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                dir = match dir.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
            }
            Err(e) => return Err(unwritable(&dir, e)),
        }
    }
}

/// ENOTDIR as the system words it, as every other file system error drag shows.
fn not_a_directory() -> io::Error {
    #[cfg(unix)]
    return io::Error::from_raw_os_error(libc::ENOTDIR);
    #[cfg(not(unix))]
    io::Error::from(io::ErrorKind::NotADirectory)
}

/// Creates and removes a file in `dir`: the one test that sees read-only mounts, ACLs and
/// full inode tables alike (root passes every permission check, the file system's do not).
fn probe(dir: &Path) -> Result<()> {
    tempfile::Builder::new()
        .prefix(".drag-probe-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| unwritable(dir, e))
}

fn unwritable(dir: &Path, e: io::Error) -> Error {
    Error::io(
        format!(
            "cannot write the output in {} (choose another -o)",
            dir.display()
        ),
        e,
    )
}

/// Looks at what `dest` names on disk.
pub fn resolve(dest: &Destination) -> Result<Place> {
    let path = match dest {
        Destination::Stdout => return Ok(Place::Stdout),
        Destination::Path(p) => follow_links(p)?,
    };
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        // Under a file: `check_writable` says so, with what to do.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Place::Replace(path))
        }
        Err(e) => return Err(Error::io_path("looking at", &path, e)),
    };
    if is_special(&meta) {
        Ok(Place::Stream(path))
    } else {
        Ok(Place::Replace(path))
    }
}

/// The path a chain of symbolic links ends at; `path` itself when it is not a link. The
/// target need not exist (a dangling link gets its target created, as `>` in a shell does).
fn follow_links(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                check_protected(&current, &m)?;
                let target =
                    fs::read_link(&current).map_err(|e| Error::io_path("reading", &current, e))?;
                // A relative target is relative to the link's directory.
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(current),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(current)
            }
            Err(e) => return Err(Error::io_path("looking at", &current, e)),
        }
    }
    Err(Error::Usage(format!(
        "{}: more than {MAX_LINKS} symbolic links to follow",
        path.display()
    )))
}

/// The kernel's `protected_symlinks` rule: a link in a sticky, world-writable directory (`/tmp`)
/// is followed only by its owner, or when the directory's owner also owns the link.
#[cfg(unix)]
fn check_protected(link: &Path, link_meta: &fs::Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dir = match link.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir_meta = fs::metadata(dir).map_err(|e| Error::io_path("looking at", dir, e))?;
    let sticky_world_writable = dir_meta.mode() & 0o1002 == 0o1002;
    if sticky_world_writable
        && link_meta.uid() != effective_uid()
        && link_meta.uid() != dir_meta.uid()
    {
        return Err(Error::Usage(format!(
            "{}: not following a symbolic link owned by another user in a shared directory \
             (as the kernel's protected_symlinks would not); name its target instead",
            link.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_protected(_link: &Path, _link_meta: &fs::Metadata) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(unix)]
fn is_special(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    t.is_char_device() || t.is_block_device() || t.is_fifo() || t.is_socket()
}

#[cfg(not(unix))]
fn is_special(meta: &fs::Metadata) -> bool {
    !meta.is_file() && !meta.is_dir()
}

/// Opens a device or FIFO to write into, as a shell's `>` would but without creating or
/// truncating anything.
pub fn open_stream(path: &Path) -> Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io_path("opening", path, e))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn place(p: &Path) -> Place {
        resolve(&Destination::Path(p.to_path_buf())).unwrap()
    }

    #[test]
    fn regular_files_and_new_names_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.tar");
        assert_eq!(place(&new), Place::Replace(new.clone()));
        fs::write(&new, "old").unwrap();
        assert_eq!(place(&new), Place::Replace(new.clone()));
        assert_eq!(
            resolve(&Destination::Stdout).unwrap(),
            Place::Stdout,
            "- stays standard output"
        );
    }

    /// As root (CI runs as root), a link owned by another user in a sticky world-writable
    /// directory is refused; the same link owned by the directory's owner is followed.
    #[test]
    fn another_users_link_in_a_sticky_shared_directory_is_not_followed() {
        use std::os::unix::fs::PermissionsExt;
        if effective_uid() != 0 {
            let why = "needs root to give a link to another user";
            assert!(
                std::env::var_os("DRAG_REQUIRE_REAL_TOOLS").is_none(),
                "{why}"
            );
            eprintln!("SKIPPED: {why}");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("tmp");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let link = shared.join("app.tar");
        symlink(dir.path().join("victim"), &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
        let e = resolve(&Destination::Path(link.clone())).unwrap_err();
        assert!(e.to_string().contains("another user"), "{e}");
        // Owned by the directory's owner (root here): followed as before.
        std::os::unix::fs::lchown(&link, Some(0), Some(0)).unwrap();
        assert_eq!(place(&link), Place::Replace(dir.path().join("victim")));
        // Not sticky: followed whoever owns it.
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(place(&link), Place::Replace(dir.path().join("victim")));
    }

    #[test]
    fn symlinks_are_followed_to_their_final_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/real.tar");
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        // A relative link to a relative link: both resolved against their own directories.
        symlink("sub/hop", dir.path().join("link.tar")).unwrap();
        symlink("real.tar", dir.path().join("sub/hop")).unwrap();
        let expected = Place::Replace(dir.path().join("sub").join("real.tar"));
        assert_eq!(place(&dir.path().join("link.tar")), expected, "dangling");
        fs::write(&target, "old").unwrap();
        assert_eq!(place(&dir.path().join("link.tar")), expected, "existing");
    }

    #[test]
    fn symlink_loops_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        let e = resolve(&Destination::Path(dir.path().join("a"))).unwrap_err();
        assert!(e.to_string().contains("symbolic links"), "{e}");
    }

    fn check(p: &Path, format: Format) -> Result<()> {
        check_writable(&place(p), format)
    }

    #[test]
    fn an_output_of_the_wrong_kind_is_refused_before_any_download() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        let e = check(&file, Format::Oci).unwrap_err();
        assert!(e.is_usage(), "{e}");
        assert!(e.to_string().contains("choose another -o"), "{e}");
        let e = check(dir.path(), Format::Docker).unwrap_err();
        assert!(e.is_usage(), "{e}");
        assert!(e.to_string().contains("image.tar"), "{e}");
        let e = check(dir.path(), Format::Oci).unwrap_err();
        assert!(e.to_string().contains("not an OCI layout"), "{e}");
        // Replaced or created: a file for a tar, an empty directory or a layout for oci.
        check(&file, Format::Docker).unwrap();
        check(&dir.path().join("new/sub/out.tar"), Format::Rootfs).unwrap();
        let empty = dir.path().join("empty");
        fs::create_dir(&empty).unwrap();
        check(&empty, Format::Oci).unwrap();
        fs::write(empty.join("oci-layout"), "{}").unwrap();
        check(&empty, Format::Oci).unwrap();
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no probe left behind, no directory created"
        );
    }

    #[test]
    fn an_output_under_a_file_is_unwritable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        let e = check(&file.join("sub/out.tar"), Format::Docker).unwrap_err();
        assert!(
            !e.is_usage(),
            "a failure of the file system, not of usage: {e}"
        );
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!(
                "cannot write the output in {} (choose another -o): ",
                file.display()
            )),
            "the file itself is named: {shown}"
        );
    }

    #[test]
    fn fifos_are_streamed_into() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(place(&fifo), Place::Stream(fifo.clone()));
        let link = dir.path().join("to-pipe");
        symlink(&fifo, &link).unwrap();
        assert_eq!(place(&link), Place::Stream(fifo));
    }
}

//! Starting disk writeback early.
//!
//! Where the store cannot tag unsynced entries with the boot that wrote them (a system without
//! boot names: see `store::unsynced`), every blob is synced before it enters the store, and
//! the rest of this holds. Left to the end, that sync waits for the
//! whole file to reach the disk; asking the kernel to start writing each range as soon as it
//! is complete overlaps the disk's work with downloading and inflating, so the final sync has
//! little left to do.

use std::fs::File;

/// Starts (without waiting) the writeback of `len` bytes at `offset`. Best effort: on other
/// systems, or if the call fails, the final sync does all the work.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn start(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is valid for the duration of the call (we hold `file`), and
    // sync_file_range only reads its integer arguments.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn start(_file: &File, _offset: u64, _len: u64) {}

//! Process-wide cancellation (Ctrl-C).
//!
//! Async work stops when its future is dropped, but blocking workers (blob sinks, output
//! writers) run on their own threads: they check this flag between chunks, so an interrupted
//! pull removes its temporary output promptly and keeps partial blobs for the next run.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

static CANCELLED: AtomicBool = AtomicBool::new(false);

/// Asks every pull in this process to stop, for a front end that drops a pull's future on
/// Ctrl-C: the blocking writers still running then remove their temporary output, and partial
/// blobs stay in the cache for the next run. The request is process-wide and cannot be
/// withdrawn; a pull started afterwards fails with [`Error::Interrupted`].
pub fn request() {
    CANCELLED.store(true, Ordering::SeqCst);
}

/// True once [`request`] was called.
pub fn is_requested() -> bool {
    CANCELLED.load(Ordering::Relaxed)
}

/// `Err(Interrupted)` once cancellation was requested.
pub fn check() -> Result<()> {
    if is_requested() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// The I/O form of [`check`], for `Write` implementations.
pub fn check_io() -> std::io::Result<()> {
    if is_requested() {
        // Not ErrorKind::Interrupted: write_all would retry that forever.
        Err(std::io::Error::other("interrupted"))
    } else {
        Ok(())
    }
}

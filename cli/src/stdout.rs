//! Writing data to standard output without panicking.
//!
//! `println!` panics when standard output fails, and it does fail: a reader that closed the
//! pipe (`drag tags x | head -1`) or a full disk (`drag adapters > /dev/full`). Commands write
//! through [`write`] instead, and the error carries what was being done. `main` then ends a run
//! whose reader went away quietly, with 141, what a shell reports for a program killed by
//! SIGPIPE (as `cat` is in `cat big | head -1`), so `set -o pipefail` scripts see what they
//! see with other tools; any other failure is one error line and exit 1.

use std::io::{self, Write};

use drag_core::Error;

/// The exit status of a run whose output pipe was closed: 128 + SIGPIPE.
pub const CLOSED_PIPE_EXIT: u8 = 141;

/// Runs `f` on locked standard output and flushes it.
pub fn write(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), Error> {
    let mut out = io::stdout().lock();
    f(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing to standard output", e))
}

/// True when `e` says the output's reader went away: a write that failed with EPIPE, from
/// [`write`] or from an output drag-core wrote (`-o -`, a FIFO). Only the error itself and
/// what it wraps directly count: a broken pipe deep in a network error's causes is a failed
/// connection, not a closed output.
pub fn is_closed_pipe(e: &anyhow::Error) -> bool {
    let io = match e.downcast_ref::<Error>() {
        Some(Error::Io { source, .. }) => Some(source),
        Some(_) => None,
        None => e.downcast_ref::<io::Error>(),
    };
    io.is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_pipe_writing_output_counts_as_a_closed_pipe() {
        let pipe = || io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(is_closed_pipe(
            &Error::io("writing to standard output", pipe()).into()
        ));
        assert!(is_closed_pipe(&anyhow::Error::from(pipe())));
        let full = io::Error::from_raw_os_error(28);
        assert!(!is_closed_pipe(
            &Error::io("writing to standard output", full).into()
        ));
        assert!(!is_closed_pipe(&anyhow::Error::from(Connection(pipe()))));
    }

    /// A network failure caused, deep down, by a broken pipe.
    #[derive(Debug)]
    struct Connection(io::Error);

    impl std::fmt::Display for Connection {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("connection closed")
        }
    }

    impl std::error::Error for Connection {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
}

//! Progress events: what a pull reports while it runs, for a front end to render.
//!
//! The core never prints. It sends [`Event`]s to a [`Progress`] sink; the CLI draws bars on a
//! terminal and plain lines elsewhere, a library user may log them or ignore them.

use crate::digest::Digest;

#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A reference was resolved to an image manifest.
    Resolved {
        reference: String,
        digest: Digest,
        platform: Option<String>,
    },
    /// A blob download (or cache hit) begins.
    BlobStarted {
        digest: Digest,
        size: u64,
        what: String,
    },
    /// Bytes received so far for a blob.
    BlobProgress { digest: Digest, done: u64 },
    /// A blob is verified and stored.
    BlobDone { digest: Digest, cached: bool },
    /// A blob download failed for a moment and is being retried or resumed.
    BlobRetry { digest: Digest, reason: String },
    /// Writing the output has begun.
    Writing { path: String },
    /// Something the user should know (a fallback tag was used, a warning).
    Note(String),
}

pub trait Progress: Send + Sync {
    fn event(&self, event: Event);
}

/// Ignores every event.
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: Event) {}
}

/// Calls a closure for every event (handy for library users and tests).
pub struct FnProgress<F>(pub F);

impl<F: Fn(Event) + Send + Sync> Progress for FnProgress<F> {
    fn event(&self, event: Event) {
        (self.0)(event)
    }
}

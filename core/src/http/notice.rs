//! Notices: lines for the user while requests run, always on unless the user asked for quiet: a
//! retry and why, an adapter's news about its registry (few pulls left on Docker Hub). The `-v`
//! [trace](super::trace) is for debugging and shows every attempt; a notice is for everyone and
//! shows only what changes what the user sees.
//!
//! The core never prints: the CLI gives a sink through
//! [`RegistryOptions`](crate::RegistryOptions), and the session's stacks hand it to the layers
//! that have something to say.

/// Where notices go (the CLI writes them to stderr, above any progress bars). Called from the
/// pull's tasks, so it must be cheap and thread-safe.
pub trait Notices: Send + Sync {
    /// One notice, without a prefix (`retrying in 1.2 s (2/5): connection refused
    /// (registry.example)`). It may hold a host name: escape it before it reaches a terminal.
    fn notice(&self, line: &str);

    /// A notice the user must see even when they asked for quiet (few pulls left). The
    /// default tells it as a notice.
    fn warning(&self, line: &str) {
        self.notice(line)
    }
}

impl std::fmt::Debug for dyn Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notices")
    }
}

//! Notices: lines for the user while requests run (a retry, and why), always on unless the
//! user asked for quiet. The `-v` [trace](super::trace) is for debugging and shows every
//! attempt; a notice is for everyone and shows only what changes what the user sees: a wait.
//!
//! The core never prints: the CLI gives a sink through
//! [`RegistryOptions`](crate::RegistryOptions), and the session's stacks hand it to the layers
//! that have something to say.

/// Where notices go (the CLI writes them to stderr, above any progress bars).
pub trait Notices: Send + Sync {
    /// One notice, without a prefix (`retrying in 1.2 s (2/5): connection refused
    /// (registry.example)`). It may hold a host name: escape it before it reaches a terminal.
    fn notice(&self, line: &str);
}

impl std::fmt::Debug for dyn Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notices")
    }
}

//! Where the HTTP path tells the user something that is not an error: an adapter's news about
//! its registry (few pulls left on Docker Hub). Core never prints; the CLI writes notices to
//! stderr as warnings, a library user may log them.

/// Receives notices; called from the pull's tasks, so it must be cheap and thread-safe.
pub trait Notices: Send + Sync {
    /// One notice: a sentence without the program's name, already escaped for a terminal.
    fn notice(&self, text: &str);
}

impl std::fmt::Debug for dyn Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notices")
    }
}

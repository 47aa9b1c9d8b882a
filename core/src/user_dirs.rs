//! Where the user keeps things, from the environment: the XDG base directories and `HOME`.
//! Several modules look there (the cache, auth files, certs.d), and an empty variable must
//! count as unset everywhere, as the XDG specification says.

use std::path::PathBuf;

/// A path from an environment variable; unset and empty are the same.
pub fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

pub fn home() -> Option<PathBuf> {
    env_path("HOME")
}

/// `$XDG_CONFIG_HOME`, else `~/.config`.
pub fn config_home() -> Option<PathBuf> {
    env_path("XDG_CONFIG_HOME").or_else(|| home().map(|h| h.join(".config")))
}

/// `$XDG_CACHE_HOME`, else `~/.cache`.
pub fn cache_home() -> Option<PathBuf> {
    env_path("XDG_CACHE_HOME").or_else(|| home().map(|h| h.join(".cache")))
}

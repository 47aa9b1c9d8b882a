//! What the user says once about each registry host, instead of on every command line: which
//! adapter serves a self-hosted registry, which mirrors to read it through, whether it may be
//! reached without verified TLS, and where its certificates are.
//!
//! The CLI reads it from a TOML file (`$DRAG_CONFIG`, else `$XDG_CONFIG_HOME/drag/config.toml`,
//! else `~/.config/drag/config.toml`); a library user can build a [`RegistryConfig`] in code
//! and hand it over in [`RegistryOptions`](crate::RegistryOptions). Command-line flags win for
//! one call (see [`RegistryOptions`](crate::RegistryOptions)).
//!
//! ```toml
//! [registries."harbor.corp.example"]
//! adapter = "oci"
//! mirrors = ["https://mirror-a.corp:5000", "http://10.0.0.5:5000"]
//! insecure = false
//! certs = "/etc/drag/certs.d/harbor.corp.example"
//!
//! [registries."*.corp.example"]
//! insecure = true
//! ```
//!
//! Keys are hosts as references write them (`host[:port]`, `docker.io` for Docker Hub), or
//! host patterns as adapters claim hosts with (`*` within one DNS label: `*.corp.example`). A host takes one entry, never a blend: its
//! literal entry, else the most specific pattern that matches it (the longest; equal lengths
//! by name). The file is checked whole before anything is pulled: unknown keys, a bad adapter
//! name or a mirror that is not an http(s) URL are errors, not silently ignored.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use crate::error::{Error, Result};
use crate::host_pattern;

/// The largest config file drag reads: a config of a thousand registries is a few dozen KiB.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

/// What the config says about one registry host (or host pattern).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSettings {
    /// The adapter for this host, by name, as `--registry` names it (self-hosted registries
    /// whose host no adapter claims).
    #[serde(default)]
    pub adapter: Option<String>,
    /// Base URLs (`http://` or `https://`) to read images of this host through, tried in
    /// order before the host itself.
    #[serde(default)]
    pub mirrors: Vec<String>,
    /// Plain HTTP and unverified TLS for connections to this host.
    #[serde(default)]
    pub insecure: Option<bool>,
    /// A certs.d-style directory for connections to this host (`*.crt` CAs, `NAME.cert` +
    /// `NAME.key` client certificate), instead of the default certs.d lookup.
    #[serde(default)]
    pub certs: Option<PathBuf>,
}

/// The config file as TOML holds it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    #[serde(default)]
    registries: BTreeMap<String, HostSettings>,
}

/// Settings per registry host; empty by default (every host as the command line says).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Keys in lower case: hosts compare ignoring case.
    hosts: BTreeMap<String, HostSettings>,
    /// The file it came from, for messages.
    source: Option<PathBuf>,
}

impl RegistryConfig {
    /// An empty config.
    pub fn new() -> RegistryConfig {
        RegistryConfig::default()
    }

    /// Adds (or replaces) the settings for `host` (`host[:port]` or a host pattern), checked
    /// as the file's entries are: a registered adapter, http(s) mirrors.
    pub fn set(&mut self, host: &str, settings: HostSettings) -> Result<()> {
        let checked = check_entry(host, settings).map_err(Error::Usage)?;
        self.hosts.insert(host.to_ascii_lowercase(), checked);
        Ok(())
    }

    /// The file this config was read from, if it was.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// True when no host has settings.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Every entry, by key.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &HostSettings)> {
        self.hosts.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The entry for `host` (`host[:port]` as a reference writes it) and its key: the literal
    /// entry, else the longest pattern matching it.
    pub fn entry_for(&self, host: &str) -> Option<(&str, &HostSettings)> {
        if let Some((k, v)) = self.hosts.get_key_value(&host.to_ascii_lowercase()) {
            return Some((k.as_str(), v));
        }
        self.hosts
            .iter()
            .filter(|(k, _)| !host_pattern::is_literal(k) && host_pattern::matches(k, host))
            // Longest wins; among equals the first by name (max_by_key keeps the last).
            .rev()
            .max_by_key(|(k, _)| k.len())
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The settings for `host`, if any entry applies.
    pub fn for_host(&self, host: &str) -> Option<&HostSettings> {
        self.entry_for(host).map(|(_, v)| v)
    }

    /// Parses the text of a config file; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<RegistryConfig> {
        let bad = |reason: String| Error::Config {
            path: path.to_path_buf(),
            reason,
        };
        let form: FileForm = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().replace('\n', " ");
            match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    bad(format!("line {line}: {message}"))
                }
                None => bad(message),
            }
        })?;
        let mut config = RegistryConfig {
            hosts: BTreeMap::new(),
            source: Some(path.to_path_buf()),
        };
        for (host, settings) in form.registries {
            let checked = check_entry(&host, settings).map_err(bad)?;
            let key = host.to_ascii_lowercase();
            if config.hosts.insert(key, checked).is_some() {
                return Err(bad(format!(
                    "registries.{host:?}: the host has another entry differing only in case"
                )));
            }
        }
        Ok(config)
    }

    /// Reads the config file at `path` (a missing file is an error).
    pub fn load(path: &Path) -> Result<RegistryConfig> {
        let bad = |reason: String| Error::Config {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("cannot read: {e}")))?;
        if bytes.len() as u64 > MAX_CONFIG_FILE_BYTES {
            return Err(bad(format!(
                "larger than {MAX_CONFIG_FILE_BYTES} bytes; not a config file"
            )));
        }
        let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
        RegistryConfig::parse(&text, path)
    }

    /// Where the config file is looked for: `$DRAG_CONFIG`, else
    /// `$XDG_CONFIG_HOME/drag/config.toml`, else `~/.config/drag/config.toml`; and whether
    /// it was named explicitly (`$DRAG_CONFIG`), so that it must exist.
    pub fn default_path() -> Option<(PathBuf, bool)> {
        if let Some(p) = crate::user_dirs::env_path("DRAG_CONFIG") {
            return Some((p, true));
        }
        crate::user_dirs::config_home().map(|c| (c.join("drag").join("config.toml"), false))
    }

    /// The config from [`default_path`](RegistryConfig::default_path): empty when the
    /// default file does not exist; an error when `$DRAG_CONFIG` names a file that does not.
    pub fn from_environment() -> Result<RegistryConfig> {
        match RegistryConfig::default_path() {
            Some((path, true)) => RegistryConfig::load(&path),
            Some((path, false)) if path.exists() => RegistryConfig::load(&path),
            _ => Ok(RegistryConfig::default()),
        }
    }
}

/// One entry checked: a plausible host key, a registered adapter, http(s) mirrors without
/// credentials. Mirrors come back as base URLs ending in `/`.
fn check_entry(
    host: &str,
    mut settings: HostSettings,
) -> std::result::Result<HostSettings, String> {
    let at = format!("registries.{host:?}");
    if host.is_empty()
        || host.contains(['/', '@', ' ', '\\'])
        || host.contains("://")
        || host.starts_with(['.', ':', '-'])
    {
        return Err(format!(
            "{at}: not a registry host (write it as a reference does: host[:port], no scheme or path)"
        ));
    }
    if let Some(name) = &settings.adapter {
        crate::adapter::by_name(name).map_err(|e| format!("{at}.adapter: {e}"))?;
    }
    for (i, mirror) in settings.mirrors.iter_mut().enumerate() {
        let bad = |why: &str| format!("{at}.mirrors[{i}] ({mirror:?}): {why}");
        let mut url = Url::parse(mirror).map_err(|e| bad(&format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("not an http:// or https:// URL"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("names no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "holds credentials; log in to the mirror's host instead (auth files)",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a base URL has no query or fragment"));
        }
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        *mirror = url.to_string();
    }
    if let Some(dir) = &settings.certs {
        if dir.as_os_str().is_empty() {
            return Err(format!("{at}.certs: empty path"));
        }
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RegistryConfig> {
        RegistryConfig::parse(text, Path::new("/etc/drag.toml"))
    }

    #[test]
    fn a_literal_entry_beats_patterns_and_the_longest_pattern_wins() {
        let c = parse(
            r#"
            [registries."*.corp.example"]
            insecure = true
            [registries."*.eu.corp.example"]
            insecure = false
            [registries."Harbor.corp.example"]
            mirrors = ["http://127.0.0.1:5000"]
            "#,
        )
        .unwrap();
        let h = c.for_host("harbor.CORP.example").unwrap();
        assert_eq!(h.mirrors, ["http://127.0.0.1:5000/"]);
        assert_eq!(
            h.insecure, None,
            "a literal entry is not blended with a pattern"
        );
        assert_eq!(
            c.entry_for("a.eu.corp.example").unwrap().0,
            "*.eu.corp.example"
        );
        assert_eq!(c.for_host("b.corp.example").unwrap().insecure, Some(true));
        assert!(c.for_host("corp.example").is_none());
        assert!(c.for_host("b.corp.example:5000").is_none());
    }

    #[test]
    fn mistakes_name_the_file_and_the_line_or_key() {
        let e = parse("[registries.\"a.example\"]\ninsecure = true\nmirror = []\n").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("/etc/drag.toml") && s.contains("line 3"), "{s}");
        assert!(s.contains("mirror"), "{s}");

        let e = parse("[registries.\"a.example\"]\nmirrors = [\"ftp://m.example\"]\n").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("mirrors[0]") && s.contains("http"), "{s}");

        let e = parse("[registries.\"a.example\"]\nmirrors = [\"https://u:p@m.example\"]\n")
            .unwrap_err();
        assert!(e.to_string().contains("credentials"), "{e}");

        let e = parse("[registries.\"https://a.example\"]\ninsecure = true\n").unwrap_err();
        assert!(e.to_string().contains("not a registry host"), "{e}");

        let e = parse("[registries.\"a.example\"]\ninsecure = \"yes\"\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");

        let e = parse("[registry.\"a.example\"]\n").unwrap_err();
        assert!(e.to_string().contains("registry"), "{e}");
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn an_oversized_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, vec![b'#'; MAX_CONFIG_FILE_BYTES as usize + 1]).unwrap();
        let e = RegistryConfig::load(&path).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
        let e = RegistryConfig::load(&dir.path().join("missing.toml")).unwrap_err();
        assert!(e.to_string().contains("missing.toml"), "{e}");
    }
}

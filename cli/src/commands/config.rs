//! `drag config`: which config file drag reads, and what it says for a host, so a user can
//! see why a registry is reached the way it is without guessing at the precedence rules.
//!
//! Output is TOML, the file's own form: `drag config show` can be pasted back into a file.

use std::io::Write;

use drag_core::registry_config::HostSettings;
use drag_core::RegistryConfig;

use crate::args::ConfigCommand;

pub fn run(cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Path => {
            let Some((path, _)) = RegistryConfig::default_path() else {
                anyhow::bail!(
                    "no config file: neither $DRAG_CONFIG, $XDG_CONFIG_HOME nor $HOME is set"
                );
            };
            if !path.exists() {
                eprintln!("drag: {} does not exist (no config)", path.display());
            }
            crate::stdout::write(|out| writeln!(out, "{}", path.display()))?;
        }
        ConfigCommand::Show { host } => {
            let config = RegistryConfig::from_environment()?;
            match config.source() {
                Some(path) => eprintln!("drag: config file {}", path.display()),
                None => eprintln!("drag: no config file"),
            }
            crate::stdout::write(|out| match &host {
                Some(host) => match config.entry_for(host) {
                    Some((key, settings)) => {
                        if !key.eq_ignore_ascii_case(host) {
                            writeln!(out, "# {host} takes the entry for the pattern {key}")?;
                        }
                        entry(out, key, settings)
                    }
                    None => writeln!(
                        out,
                        "# no entry for {host}: the adapter claiming it, no mirrors, verified TLS"
                    ),
                },
                None => {
                    for (key, settings) in config.entries() {
                        entry(out, key, settings)?;
                    }
                    Ok(())
                }
            })?;
        }
    }
    Ok(())
}

/// One entry as the file would write it.
fn entry(out: &mut dyn Write, key: &str, s: &HostSettings) -> std::io::Result<()> {
    // JSON strings are valid TOML basic strings (serde_json never writes `\/`).
    let quoted = |v: &str| serde_json::to_string(v).unwrap_or_default();
    writeln!(out, "[registries.{}]", quoted(key))?;
    if let Some(a) = &s.adapter {
        writeln!(out, "adapter = {}", quoted(a))?;
    }
    if !s.mirrors.is_empty() {
        let list: Vec<String> = s.mirrors.iter().map(|m| quoted(m)).collect();
        writeln!(out, "mirrors = [{}]", list.join(", "))?;
    }
    if let Some(i) = s.insecure {
        writeln!(out, "insecure = {i}")?;
    }
    if let Some(c) = &s.certs {
        writeln!(out, "certs = {}", quoted(&c.to_string_lossy()))?;
    }
    writeln!(out)
}

//! `drag adapters`: which registries drag knows, as a table on stdout.
//!
//! The HOSTS column shows what each adapter claims as it wrote it, host patterns included
//! (`*.gcr.io`), so a user can see which adapter a host will get. An adapter for self-hosted
//! registries only (Nexus) claims none and says how it is chosen instead.

/// The HOSTS cell of an adapter that claims no host: it serves only hosts it is chosen for.
const SELF_HOSTED: &str = "(none: choose it with --registry)";

pub fn run() -> anyhow::Result<()> {
    let rows: Vec<(&str, String, &str)> = drag_core::adapter::all()
        .into_iter()
        .map(|a| {
            let hosts = if a.is_catch_all() {
                "(any other host)".to_string()
            } else if a.hosts().is_empty() {
                // Self-hosted families (Nexus) have no host of their own.
                SELF_HOSTED.to_string()
            } else {
                a.hosts().join(", ")
            };
            (a.name(), hosts, a.summary())
        })
        .collect();
    // Columns as wide as their widest cell, and never narrower than they have always been.
    let name_width = rows
        .iter()
        .map(|r| r.0.len() + 1)
        .max()
        .unwrap_or(0)
        .max(10);
    let hosts_width = rows
        .iter()
        .map(|r| r.1.len() + 2)
        .max()
        .unwrap_or(0)
        .max(50);
    crate::stdout::write(|out| {
        writeln!(
            out,
            "{:<name_width$} {:<hosts_width$} DESCRIPTION",
            "NAME", "HOSTS"
        )?;
        for (name, hosts, summary) in &rows {
            writeln!(out, "{name:<name_width$} {hosts:<hosts_width$} {summary}")?;
        }
        Ok(())
    })?;
    Ok(())
}

//! `drag adapters`: which registries drag knows, as a table on stdout.
//!
//! The HOSTS column shows what each adapter claims as it wrote it, host patterns included
//! (`*.gcr.io`), so a user can see which adapter a host will get. A self-hosted family
//! (Harbor) claims no host: it serves only what `--registry` gives it.

/// The HOSTS cell of an adapter that claims no host.
fn self_hosted(name: &str) -> String {
    format!("(self-hosted: --registry {name})")
}

pub fn run() -> anyhow::Result<()> {
    let rows: Vec<(&str, String, &str)> = drag_core::adapter::all()
        .into_iter()
        .map(|a| {
            let hosts = if a.is_catch_all() {
                "(any other host)".to_string()
            } else if a.hosts().is_empty() {
                self_hosted(a.name())
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

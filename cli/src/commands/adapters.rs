//! `drag adapters`: which registries drag knows, as a table on stdout.
//!
//! The HOSTS column shows what each adapter claims as it wrote it, host patterns included
//! (`*.gcr.io`), so a user can see which adapter a host will get. A self-hosted family
//! (Harbor) claims no host: it serves only what `--registry` gives it.

/// The HOSTS cell of an adapter that claims no host.
fn self_hosted(name: &str) -> String {
    format!("(self-hosted: --registry {name})")
}

/// The widest the HOSTS column grows: longer host lists (ECR's five patterns) wrap onto the
/// lines below, so the table stays readable in an 80-column terminal's neighbourhood.
const HOSTS_WRAP: usize = 50;

pub fn run() -> anyhow::Result<()> {
    let rows: Vec<(&str, Vec<String>, &str)> = drag_core::adapter::all()
        .into_iter()
        .map(|a| {
            let hosts = if a.is_catch_all() {
                vec!["(any other host)".to_string()]
            } else if a.hosts().is_empty() {
                vec![self_hosted(a.name())]
            } else {
                wrap(a.hosts(), HOSTS_WRAP)
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
        .flat_map(|r| r.1.iter().map(|h| h.len() + 2))
        .max()
        .unwrap_or(0)
        .max(HOSTS_WRAP);
    crate::stdout::write(|out| {
        writeln!(
            out,
            "{:<name_width$} {:<hosts_width$} DESCRIPTION",
            "NAME", "HOSTS"
        )?;
        for (name, hosts, summary) in &rows {
            let mut lines = hosts.iter();
            let first = lines.next().map(String::as_str).unwrap_or_default();
            writeln!(out, "{name:<name_width$} {first:<hosts_width$} {summary}")?;
            for more in lines {
                writeln!(out, "{:<name_width$} {more}", "")?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// `hosts` joined by ", " into lines of at most `width` characters (a longer host gets a line
/// of its own); every line but the last ends with the comma.
fn wrap(hosts: &[&str], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for host in hosts {
        if !line.is_empty() && line.len() + 2 + host.len() > width {
            lines.push(format!("{line},"));
            line.clear();
        }
        if !line.is_empty() {
            line.push_str(", ");
        }
        line.push_str(host);
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn long_host_lists_wrap_after_a_comma() {
        assert_eq!(wrap(&["a.io", "b.io"], 50), ["a.io, b.io"]);
        assert_eq!(
            wrap(&["aaaa.io", "bbbb.io", "cccc.io"], 16),
            ["aaaa.io, bbbb.io,", "cccc.io"]
        );
        assert_eq!(
            wrap(&["a-very-long-host.example"], 10),
            ["a-very-long-host.example"]
        );
    }
}

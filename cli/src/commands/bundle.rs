//! `drag bundle ls|verify`: what a bundle holds (a table, or JSON, on stdout: it is the
//! command's data), and whether a set of bundles is whole (problems on stdout, one per line;
//! the summary on stderr; exit 1 when there is any problem).

use drag_core::bundle::{self, BundleListing};
use drag_core::terminal_text::escape;

use crate::args::BundleCommand;
use crate::render::{count, human_bytes};

pub fn run(cmd: BundleCommand) -> anyhow::Result<()> {
    match cmd {
        BundleCommand::Ls { path, json } => {
            let listing = bundle::list(&path)?;
            if json {
                let text = serde_json::to_string_pretty(&listing)?;
                crate::stdout::write(|out| writeln!(out, "{text}"))?;
            } else {
                print_table(&listing)?;
            }
            Ok(())
        }
        BundleCommand::Verify { paths, jobs } => {
            let report = bundle::verify(&paths, jobs);
            crate::stdout::write(|out| {
                for p in &report.problems {
                    writeln!(out, "{}", escape(p))?;
                }
                Ok(())
            })?;
            let checked = format!(
                "{}, {} ({}) hashed",
                count(paths.len(), "bundle"),
                count(report.blobs_checked, "blob"),
                human_bytes(report.bytes_checked)
            );
            if report.problems.is_empty() {
                eprintln!("drag bundle verify: {checked}: all intact");
                Ok(())
            } else {
                let problems = count(report.problems.len(), "problem");
                eprintln!("drag bundle verify: {checked}: {problems}");
                anyhow::bail!("{problems}")
            }
        }
    }
}

fn print_table(l: &BundleListing) -> Result<(), drag_core::Error> {
    let rows: Vec<(String, String, String)> = l
        .images
        .iter()
        .map(|i| {
            let names = if i.names.is_empty() {
                "<none>".to_string()
            } else {
                i.names.join(", ")
            };
            (
                escape(&names).into_owned(),
                i.digest.to_string(),
                i.platforms.join(","),
            )
        })
        .collect();
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(4);
    crate::stdout::write(|out| {
        writeln!(out, "{:width$}  {:71}  PLATFORM", "NAME", "DIGEST")?;
        for (name, digest, platforms) in &rows {
            writeln!(out, "{name:width$}  {digest:71}  {platforms}")?;
        }
        writeln!(
            out,
            "{}, {}, {} ({} bytes){}",
            count(l.images.len(), "image"),
            count(l.blobs, "blob"),
            human_bytes(l.size),
            l.size,
            if l.delta { ", a delta bundle" } else { "" }
        )?;
        if !l.missing.is_empty() {
            let total: u64 = l.missing.iter().map(|b| b.size).sum();
            writeln!(
                out,
                "left out: {}, {} ({total} bytes){}",
                count(l.missing.len(), "blob"),
                human_bytes(total),
                if l.delta { ", held by its bases" } else { "" }
            )?;
            for b in &l.missing {
                writeln!(
                    out,
                    "  {}  {:>10}  {}",
                    b.digest,
                    human_bytes(b.size),
                    escape(&b.what)
                )?;
            }
        }
        Ok(())
    })
}

//! `drag ratelimit`: where Docker Hub's pull count stands, on stdout.
//!
//! A HEAD of a manifest carries the same `ratelimit-*` headers as the GET a pull makes, and
//! Docker Hub does not count it, so asking costs nothing. The figures are Docker Hub's; what
//! they mean is read by the Docker Hub adapter ([`drag_adapters::dockerhub::PullLimit`]).

use std::io::Write;

use drag_adapters::dockerhub::PullLimit;
use serde_json::json;

use crate::args::RatelimitArgs;

pub async fn run(args: RatelimitArgs) -> anyhow::Result<()> {
    let mut registry = super::registry_options(&args.registry)?;
    // The figures are the output; a warning about them would only repeat it.
    registry.notices = None;
    let headers = drag_core::inspect::manifest_headers(&args.image, &registry).await?;
    let limit = PullLimit::from_headers(&headers);
    let mut out = std::io::stdout().lock();
    if args.json {
        let l = limit.unwrap_or_default();
        let doc = json!({
            "limit": l.limit,
            "window_seconds": l.window_secs,
            "remaining": l.remaining,
            "source": l.source,
            "reset_seconds": l.reset_secs,
        });
        writeln!(out, "{doc}")?;
    } else {
        writeln!(out, "{}", line(limit.as_ref()))?;
    }
    out.flush()?;
    Ok(())
}

/// `limit 100 per 21600 s, remaining 76, source 1.2.3.4`, with what Docker Hub said.
fn line(limit: Option<&PullLimit>) -> String {
    let Some(l) = limit else {
        // Accounts without a limit get no headers, and neither do other registries.
        return "no pull limit reported".to_string();
    };
    let mut parts = vec![];
    match (l.limit, l.window_secs) {
        (Some(n), Some(w)) => parts.push(format!("limit {n} per {w} s")),
        (Some(n), None) => parts.push(format!("limit {n}")),
        _ => {}
    }
    if let Some(n) = l.remaining {
        parts.push(format!("remaining {n}"));
    }
    if let Some(s) = &l.source {
        parts.push(format!("source {s}"));
    }
    if let Some(s) = l.reset_secs {
        parts.push(format!("resets in {s} s"));
    }
    parts.join(", ")
}

//! Rendering progress events on stderr: a bar per blob on a terminal, plain lines otherwise,
//! nothing with `-q`.
//!
//! Events carry registry words (platforms, notes, retry reasons): every line and bar message
//! is escaped and cut short (see [`drag_core::terminal_text`]).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use drag_core::digest::Digest;
use drag_core::progress::{Event, Progress};
use drag_core::terminal_text;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub enum Renderer {
    Quiet,
    Lines,
    Bars {
        multi: MultiProgress,
        bars: Mutex<HashMap<Digest, ProgressBar>>,
    },
}

impl Renderer {
    pub fn new(quiet: bool) -> Renderer {
        if quiet {
            Renderer::Quiet
        } else if std::io::stderr().is_terminal() {
            Renderer::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Renderer::Lines
        }
    }

    pub fn finish(&self) {
        if let Renderer::Bars { multi, .. } = self {
            let _ = multi.clear();
        }
    }

    fn bar(&self, multi: &MultiProgress, size: u64, what: &str) -> ProgressBar {
        let style = ProgressStyle::with_template(
            "{prefix:<30} [{bar:30}] {bytes:>10}/{total_bytes:<10} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = multi.add(ProgressBar::new(size));
        bar.set_style(style);
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

impl Progress for Renderer {
    fn event(&self, event: Event) {
        match self {
            Renderer::Quiet => {}
            Renderer::Lines => lines(event),
            Renderer::Bars { multi, bars } => {
                let mut bars = bars.lock().unwrap_or_else(|e| e.into_inner());
                match event {
                    Event::BlobStarted { digest, size, what } => {
                        bars.insert(digest, self.bar(multi, size, &what));
                    }
                    Event::BlobProgress { digest, done } => {
                        if let Some(b) = bars.get(&digest) {
                            b.set_position(done);
                        }
                    }
                    Event::BlobDone { digest, cached } => {
                        if let Some(b) = bars.get(&digest) {
                            b.finish_with_message(if cached { "cached" } else { "done" });
                        }
                    }
                    Event::BlobRetry { digest, reason } => {
                        if let Some(b) = bars.get(&digest) {
                            b.set_message(format!("retrying: {}", terminal_text::shown(&reason)));
                        }
                    }
                    other => {
                        if let Some(line) = line_for(&other) {
                            let _ = multi.println(line);
                        }
                    }
                }
            }
        }
    }
}

fn lines(event: Event) {
    if let Some(line) = line_for(&event) {
        eprintln!("{line}");
    }
}

/// The longest progress line shown.
const MAX_LINE_CHARS: usize = 1000;

/// The plain-text line for an event, when it deserves one, safe for a terminal.
fn line_for(event: &Event) -> Option<String> {
    raw_line_for(event).map(|l| terminal_text::shown_up_to(&l, MAX_LINE_CHARS))
}

fn raw_line_for(event: &Event) -> Option<String> {
    Some(match event {
        Event::Resolved {
            reference,
            digest,
            platform,
        } => match platform {
            Some(p) => format!("resolved {reference} -> {digest} ({p})"),
            None => format!("resolved {reference} -> {digest}"),
        },
        Event::BlobStarted { what, size, .. } => {
            format!("fetching {what} ({})", human_bytes(*size))
        }
        Event::BlobDone { digest, cached } => {
            format!(
                "{} {}",
                if *cached { "cached" } else { "verified" },
                digest.short()
            )
        }
        Event::BlobRetry { digest, reason } => format!("retrying {}: {reason}", digest.short()),
        Event::Writing { path } => format!("writing {path}"),
        Event::Note(n) => n.clone(),
        _ => return None,
    })
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

//! Rendering progress events on stderr: bars on a terminal, plain lines otherwise, nothing
//! with `-q`.
//!
//! On a terminal every line is cut to its width, so nothing wraps (a wrapped bar leaves a
//! trail of half-erased rows on every redraw): a bar per blob, an overall line under them with
//! bytes done of the total, speed and ETA, then a line for writing the output. Labels shrink
//! and bars stretch with the width; messages printed above the bars are folded onto several
//! rows instead of being left to the terminal's wrapping. When the bars would outgrow the
//! terminal's height, finished blobs make room, oldest first, so the overall line stays in
//! sight.
//!
//! Events carry registry words (platforms, notes, retry reasons): every line and bar message
//! is escaped and cut short (see [`drag_core::terminal_text`]).

use std::collections::{HashMap, VecDeque};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use console::{measure_text_width, pad_str, Alignment};
use drag_core::digest::Digest;
use drag_core::progress::{Event, Progress};
use drag_core::terminal_text;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub enum Renderer {
    Quiet,
    Lines,
    Bars(Bars),
}

impl Renderer {
    pub fn new(quiet: bool) -> Renderer {
        if quiet {
            Renderer::Quiet
        } else if std::io::stderr().is_terminal() {
            Renderer::Bars(Bars::new(
                ProgressDrawTarget::stderr(),
                Box::new(|| console::Term::stderr().size()),
            ))
        } else {
            Renderer::Lines
        }
    }

    pub fn finish(&self) {
        if let Renderer::Bars(bars) = self {
            bars.finish();
        }
    }
}

impl Progress for Renderer {
    fn event(&self, event: Event) {
        match self {
            Renderer::Quiet => {}
            Renderer::Lines => {
                if let Some(line) = line_for(&event) {
                    eprintln!("{line}");
                }
            }
            Renderer::Bars(bars) => bars.event(event),
        }
    }
}

/// The bars of a pull on a terminal.
pub struct Bars {
    multi: MultiProgress,
    /// The terminal's rows and columns now (they may change while drag runs).
    size: Box<dyn Fn() -> (u16, u16) + Send + Sync>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    blobs: HashMap<Digest, Blob>,
    /// Blob bars on screen: finished ones (oldest first) and how many in all.
    finished: VecDeque<Digest>,
    shown: usize,
    /// The overall line: bytes to download, done, speed, ETA.
    overall: Option<ProgressBar>,
    /// Bytes received over all blobs.
    received: u64,
    writing: Option<ProgressBar>,
}

struct Blob {
    bar: ProgressBar,
    what: String,
    size: u64,
    received: u64,
}

/// How often the overall and writing lines redraw on their own, so speed and ETA move during
/// a stall and the total keeps up with the blobs.
const TICK: Duration = Duration::from_millis(100);
/// The narrowest bar drawn; labels give way first.
const MIN_BAR: usize = 10;
/// What a blob line shows besides its label and bar, and the widest it gets: " [", "] ",
/// "1023.99 MiB", "/", "1023.99 MiB", " ", "retrying".
const BLOB_TAIL: &str = "{bytes:>11}/{total_bytes:<11} {msg:<8!}";
const BLOB_TAIL_WIDTH: usize = 4 + 11 + 1 + 11 + 1 + 8;
/// An overall or writing line: done/total, speed ("1023.99 MiB/s"), " ETA ", "59m".
const RATE_TAIL: &str = "{bytes:>11}/{total_bytes:<11} {binary_bytes_per_sec:>13} ETA {eta:>4}";
const RATE_TAIL_WIDTH: usize = 4 + 11 + 1 + 11 + 1 + 13 + 5 + 4;
/// Below this width the numbers go and a percentage stays.
const NARROW_TAIL: &str = "{percent:>3}%";
const NARROW_TAIL_WIDTH: usize = 4 + 4;
/// The widest label a blob gets: `layer 12/120 sha256:0123456789ab`.
const LABEL_WIDTH: usize = 33;

/// Which line a style is for.
#[derive(Clone, Copy)]
enum Kind {
    Blob,
    Rate,
}

/// A style and label width that fit `width` columns, for a line of `kind`. The wide bar takes
/// whatever the label and numbers leave.
fn layout(kind: Kind, width: usize) -> (ProgressStyle, usize) {
    let (tail, tail_width) = match kind {
        Kind::Blob => (BLOB_TAIL, BLOB_TAIL_WIDTH),
        Kind::Rate => (RATE_TAIL, RATE_TAIL_WIDTH),
    };
    let (tail, tail_width) = if width >= tail_width + MIN_BAR + 12 {
        (tail, tail_width)
    } else {
        (NARROW_TAIL, NARROW_TAIL_WIDTH)
    };
    let label = width.saturating_sub(tail_width + MIN_BAR).min(LABEL_WIDTH);
    let style = ProgressStyle::with_template(&format!("{{prefix}} [{{wide_bar}}] {tail}"))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    (style, label)
}

/// `label` cut or padded to exactly `width` columns.
fn fit(label: &str, width: usize) -> String {
    pad_str(label, width, Alignment::Left, Some("…")).into_owned()
}

impl Bars {
    pub fn new(
        target: ProgressDrawTarget,
        size: Box<dyn Fn() -> (u16, u16) + Send + Sync>,
    ) -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(target),
            size,
            state: Mutex::new(State::default()),
        }
    }

    fn width(&self) -> usize {
        usize::from((self.size)().1)
    }

    /// Takes finished blob bars off the screen, oldest first, until the blob bars, the
    /// overall and writing lines and the cursor's row fit the terminal's height.
    fn make_room(&self, state: &mut State) {
        let room = usize::from((self.size)().0).saturating_sub(3).max(1);
        while state.shown > room {
            let Some(digest) = state.finished.pop_front() else {
                break;
            };
            if let Some(b) = state.blobs.get(&digest) {
                self.multi.remove(&b.bar);
                state.shown -= 1;
            }
        }
    }

    /// Takes a blob's bar off the screen for good (it is being replaced).
    fn forget(&self, state: &mut State, digest: &Digest) {
        if let Some(old) = state.blobs.remove(digest) {
            let was_on_screen = match state.finished.iter().position(|d| d == digest) {
                Some(i) => state.finished.remove(i).is_some(),
                None => !old.bar.is_finished(),
            };
            if was_on_screen {
                self.multi.remove(&old.bar);
                state.shown -= 1;
            }
        }
    }

    /// Clears the bars for good: the tickers stop, so nothing redraws them under the summary
    /// or an error message.
    fn finish(&self) {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let bars = state.blobs.values().map(|b| &b.bar);
        for bar in bars.chain(&state.overall).chain(&state.writing) {
            bar.disable_steady_tick();
        }
        let _ = self.multi.clear();
        self.multi.set_draw_target(ProgressDrawTarget::hidden());
    }

    fn bar(&self, kind: Kind, len: u64, label: &str) -> ProgressBar {
        let (style, label_width) = layout(kind, self.width());
        let bar = ProgressBar::hidden();
        bar.set_length(len);
        bar.set_style(style);
        bar.set_prefix(fit(label, label_width));
        bar
    }

    /// Prints `line` above the bars, folded to the terminal's width.
    fn println(&self, line: &str) {
        let width = self.width().saturating_sub(1).max(10);
        for row in fold(line, width) {
            let _ = self.multi.println(row);
        }
    }

    fn event(&self, event: Event) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        match event {
            Event::Fetching { bytes, .. } => match &state.overall {
                Some(overall) => overall.inc_length(bytes),
                None => {
                    let overall = self.multi.add(self.bar(Kind::Rate, bytes, "total"));
                    overall.enable_steady_tick(TICK);
                    state.overall = Some(overall);
                }
            },
            Event::BlobStarted { digest, size, what } => {
                let what = terminal_text::shown(&what);
                self.forget(state, &digest);
                let bar = self.bar(Kind::Blob, size, &what);
                let bar = match &state.overall {
                    Some(overall) => self.multi.insert_before(overall, bar),
                    None => self.multi.add(bar),
                };
                state.blobs.insert(
                    digest,
                    Blob {
                        bar,
                        what,
                        size,
                        received: 0,
                    },
                );
                state.shown += 1;
                self.make_room(state);
            }
            Event::BlobProgress { digest, done } => {
                if let Some(b) = state.blobs.get_mut(&digest) {
                    b.bar.set_position(done);
                    // A download that starts over gives back what it had counted.
                    state.received = state
                        .received
                        .saturating_add(done)
                        .saturating_sub(b.received);
                    b.received = done;
                    if let Some(o) = &state.overall {
                        o.set_position(state.received);
                    }
                }
            }
            Event::BlobDone { digest, cached } => {
                if let Some(b) = state.blobs.get_mut(&digest) {
                    b.bar.set_position(b.size);
                    b.bar
                        .finish_with_message(if cached { "cached" } else { "done" });
                    if let Some(o) = &state.overall {
                        if cached && b.received == 0 {
                            // Nothing was downloaded: leave it out of the total, so speed
                            // and ETA are the network's.
                            o.set_length(o.length().unwrap_or(0).saturating_sub(b.size));
                        } else {
                            state.received = state
                                .received
                                .saturating_add(b.size)
                                .saturating_sub(b.received);
                            b.received = b.size;
                            o.set_position(state.received);
                        }
                    }
                    state.finished.push_back(digest);
                    self.make_room(state);
                }
            }
            Event::BlobRetry { digest, reason } => {
                let what = match state.blobs.get(&digest) {
                    Some(b) => {
                        b.bar.set_message("retrying");
                        b.what.clone()
                    }
                    None => digest.short(),
                };
                self.println(&format!(
                    "retrying {what}: {}",
                    terminal_text::shown(&reason)
                ));
            }
            Event::Writing { path } => {
                if let Some(o) = &state.overall {
                    o.finish();
                }
                self.println(&format!("writing {}", terminal_text::shown(&path)));
            }
            Event::WriteProgress { done, total } => {
                // Drawn once there is something to show: an empty bar reads as complete.
                let total = total.max(done);
                if state.writing.is_none() && total > 0 {
                    let writing = self.multi.add(self.bar(Kind::Rate, total, "writing"));
                    writing.enable_steady_tick(TICK);
                    state.writing = Some(writing);
                }
                if let Some(w) = &state.writing {
                    w.set_length(total);
                    w.set_position(done);
                }
            }
            other => {
                if let Some(line) = line_for(&other) {
                    self.println(&line);
                }
            }
        }
    }
}

impl Drop for Bars {
    /// A failed pull drops the renderer before its error is printed.
    fn drop(&mut self) {
        self.finish();
    }
}

/// `line` in rows of at most `width` columns, later rows indented.
fn fold(line: &str, width: usize) -> Vec<String> {
    const INDENT: &str = "  ";
    let mut rows = Vec::new();
    let mut row = String::new();
    let mut used = 0;
    for c in line.chars() {
        let w = measure_text_width(c.encode_utf8(&mut [0; 4]));
        if used + w > width && !row.trim().is_empty() {
            rows.push(std::mem::take(&mut row));
            row.push_str(INDENT);
            used = INDENT.len();
        }
        if c == ' ' && row == INDENT {
            continue;
        }
        row.push(c);
        used += w;
    }
    if !row.trim().is_empty() || rows.is_empty() {
        rows.push(row);
    }
    rows
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
        Event::Fetching { blobs, bytes } => format!(
            "fetching {blobs} {}, {} in all",
            if *blobs == 1 { "blob" } else { "blobs" },
            human_bytes(*bytes)
        ),
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

/// What an upload did, for `copy`'s and `push`'s summary: `  3 blobs sent (12.0 MiB), 1
/// already there, 2 mounted; 2 manifests`. `mounted` is left out where nothing can be mounted.
pub fn upload_summary(
    sent: usize,
    bytes: u64,
    present: usize,
    mounted: Option<usize>,
    foreign_skipped: usize,
    manifests: usize,
) -> String {
    let mounted = mounted
        .map(|n| format!(", {n} mounted"))
        .unwrap_or_default();
    let foreign = match foreign_skipped {
        0 => String::new(),
        n => format!(", {n} foreign layers left at their URLs"),
    };
    format!(
        "  {sent} blobs sent ({}), {present} already there{mounted}{foreign}; {manifests} manifests",
        human_bytes(bytes)
    )
}

/// `n` and the noun, singular for one: `1 blob`, `2 blobs`.
pub fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ => format!("{n} {noun}s"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Recorded where indicatif moves the cursor up to redraw: frames end there.
    const UP: &str = "\u{0}up";

    /// A terminal of fixed size that keeps every string written to it.
    #[derive(Debug, Clone)]
    struct Screen {
        width: u16,
        height: u16,
        rows: Arc<Mutex<Vec<String>>>,
    }

    impl Screen {
        fn new(height: u16, width: u16) -> Screen {
            Screen {
                width,
                height,
                rows: Arc::default(),
            }
        }

        fn bars(&self) -> Bars {
            let (height, width) = (self.height, self.width);
            Bars::new(
                ProgressDrawTarget::term_like(Box::new(self.clone())),
                Box::new(move || (height, width)),
            )
        }

        /// The non-blank lines of the last frame drawn.
        fn last_frame(&self) -> Vec<String> {
            let rows = self.rows.lock().unwrap();
            let start = rows.iter().rposition(|r| r == UP).map_or(0, |i| i + 1);
            rows[start..]
                .iter()
                .filter(|r| !r.trim().is_empty())
                .cloned()
                .collect()
        }
    }

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            self.width
        }
        fn height(&self) -> u16 {
            self.height
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            self.rows.lock().unwrap().push(UP.to_string());
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.rows.lock().unwrap().push(s.to_string());
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.rows.lock().unwrap().push(s.to_string());
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Draws a pull with the widest numbers and labels, a retry and a long note on a terminal
    /// `width` columns wide; returns every row drawn.
    fn draw_pull(width: u16) -> Vec<String> {
        let screen = Screen::new(50, width);
        let bars = screen.bars();
        // "1024.00 MiB": the widest number indicatif shows.
        let big = (1 << 30) - 1;
        let digests: Vec<Digest> = (0..3)
            .map(|i| Digest::parse(&format!("sha256:{}", format!("{i}").repeat(64))).unwrap())
            .collect();
        bars.event(Event::Fetching {
            blobs: 3,
            bytes: 3 * big,
        });
        for (i, d) in digests.iter().enumerate() {
            bars.event(Event::BlobStarted {
                digest: d.clone(),
                size: big,
                what: format!("layer {}/120 {}", i + 100, d.short()),
            });
            bars.event(Event::BlobProgress {
                digest: d.clone(),
                done: big - 1,
            });
        }
        bars.event(Event::BlobRetry {
            digest: digests[0].clone(),
            reason: "connection reset by peer ".repeat(10),
        });
        bars.event(Event::Note("a long note ".repeat(30)));
        bars.event(Event::BlobDone {
            digest: digests[1].clone(),
            cached: false,
        });
        bars.event(Event::Writing {
            path: "some/very/long/path/".repeat(10),
        });
        bars.event(Event::WriteProgress {
            done: big,
            total: 3 * big,
        });
        // Let the steady ticks draw the rate lines at least once.
        std::thread::sleep(Duration::from_millis(300));
        bars.finish();
        let rows = screen.rows.lock().unwrap().clone();
        rows.iter()
            .filter(|r| *r != UP)
            .flat_map(|r| r.split('\n'))
            .map(|r| console::strip_ansi_codes(r).into_owned())
            .collect()
    }

    fn assert_fits(width: u16) {
        let rows = draw_pull(width);
        if width >= 80 {
            assert!(
                rows.iter()
                    .any(|r| r.contains("total") && r.contains("ETA")),
                "no overall line: {rows:#?}"
            );
            assert!(
                rows.iter().any(|r| r.contains("layer 101/120")),
                "{rows:#?}"
            );
        }
        for row in &rows {
            assert!(
                measure_text_width(row) <= usize::from(width),
                "{} columns at width {width}: {row:?}",
                measure_text_width(row)
            );
        }
    }

    #[test]
    fn no_row_is_wider_than_an_80_column_terminal() {
        assert_fits(80);
    }

    #[test]
    fn no_row_is_wider_than_a_200_or_a_50_column_terminal() {
        assert_fits(200);
        assert_fits(50);
    }

    #[test]
    fn finished_blobs_make_room_so_the_overall_line_stays_on_a_short_terminal() {
        let screen = Screen::new(12, 80);
        let bars = screen.bars();
        bars.event(Event::Fetching {
            blobs: 30,
            bytes: 30 * 1000,
        });
        for i in 0..30u8 {
            let digest = Digest::parse(&format!("sha256:{:064x}", i)).unwrap();
            bars.event(Event::BlobStarted {
                digest: digest.clone(),
                size: 1000,
                what: format!("layer {}/30", i + 1),
            });
            bars.event(Event::BlobProgress {
                digest: digest.clone(),
                done: 1000,
            });
            bars.event(Event::BlobDone {
                digest,
                cached: false,
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        let frame = screen.last_frame();
        assert!(frame.len() <= 12, "{} rows: {frame:#?}", frame.len());
        assert!(frame.iter().any(|r| r.starts_with("total ")), "{frame:#?}");
        assert!(
            frame.iter().any(|r| r.starts_with("layer 30/30 ")),
            "the newest blob is shown: {frame:#?}"
        );
        bars.finish();
    }

    #[test]
    fn long_messages_fold_into_rows_that_fit() {
        let rows = fold(&"word ".repeat(50), 40);
        assert!(rows.len() > 1);
        assert!(rows.iter().all(|r| measure_text_width(r) <= 40), "{rows:?}");
        assert_eq!(
            rows.concat().replace(' ', ""),
            "word".repeat(50),
            "nothing is lost"
        );
    }

    #[test]
    fn labels_are_cut_or_padded_to_their_width() {
        assert_eq!(fit("total", 8), "total   ");
        assert_eq!(measure_text_width(&fit(&"x".repeat(50), 20)), 20);
    }
}

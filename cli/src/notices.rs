//! Where the core's notices (a retry and why) go: stderr, as one `drag: ` line each, escaped.
//! During a pull they go through the progress renderer, so a line never lands in the middle
//! of the bars, and `-q` silences them with the rest.

use std::sync::Arc;

use drag_core::http::notice::Notices;
use drag_core::progress::{Event, Progress};
use drag_core::terminal_text;

/// The longest notice shown: ours are short, but they name hosts.
const MAX_LINE_CHARS: usize = 500;

fn line(notice: &str) -> String {
    format!(
        "drag: {}",
        terminal_text::shown_up_to(notice, MAX_LINE_CHARS)
    )
}

/// Notices straight to stderr, for the commands without progress output.
pub struct Stderr;

impl Notices for Stderr {
    fn notice(&self, notice: &str) {
        eprintln!("{}", line(notice));
    }
}

/// Notices as progress notes, for `pull`: drawn above the bars, or not at all with `-q`.
pub struct AsNotes<P>(pub Arc<P>);

impl<P: Progress> Notices for AsNotes<P> {
    fn notice(&self, notice: &str) {
        self.0.event(Event::Note(line(notice)));
    }
}

//! Where the core's notices go: stderr, as one `drag: ` line each, escaped. During a pull they
//! go through the progress renderer, so a line never lands in the middle of the bars. `-q`
//! silences notices (a retry and why) with the rest, but not warnings (few Docker Hub pulls
//! left), which are `drag: warning: ` lines.

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

    fn warning(&self, warning: &str) {
        eprintln!("{}", line(&format!("warning: {warning}")));
    }
}

/// Notices as progress notes, for `pull`: drawn above the bars. A notice goes to the renderer,
/// which shows nothing with `-q`; a warning goes to `loud`, which shows notes even then.
pub struct AsNotes<P, L> {
    /// Where notices go.
    pub renderer: Arc<P>,
    /// Where warnings go.
    pub loud: Arc<L>,
}

impl<P: Progress, L: Progress> Notices for AsNotes<P, L> {
    fn notice(&self, notice: &str) {
        self.renderer.event(Event::Note(line(notice)));
    }

    fn warning(&self, warning: &str) {
        self.loud
            .event(Event::Note(line(&format!("warning: {warning}"))));
    }
}

//! `drag inspect`: JSON about an image on stdout, or the manifest bytes with `--raw`.
//!
//! stdout is data and gets the bytes as they are, unless it is a terminal: then characters a
//! terminal would act on (a hostile registry's escape sequences) are shown escaped, the JSON
//! staying the same JSON (see [`drag_core::terminal_text`]).

use std::io::IsTerminal;

use drag_core::inspect::{self, InspectOptions};
use drag_core::platform::Platform;
use drag_core::progress::{Event, Progress};
use drag_core::pull::Cache;
use drag_core::terminal_text;

use crate::args::InspectArgs;

pub async fn run(args: InspectArgs) -> anyhow::Result<()> {
    let opts = InspectOptions {
        image: args.image.clone(),
        registry: super::registry_options(&args.registry)?,
        platform: args
            .platform
            .as_deref()
            .map(str::parse::<Platform>)
            .transpose()
            .map_err(drag_core::Error::from)?,
        cache: if args.no_cache {
            Cache::Disabled
        } else {
            Cache::default()
        },
    };
    let terminal = std::io::stdout().is_terminal();
    let notes = NotesOnStderr;
    if args.raw {
        let bytes = inspect::raw_manifest(&opts, &notes).await?;
        crate::stdout::write(|out| {
            if terminal {
                let text = String::from_utf8_lossy(&bytes);
                out.write_all(terminal_text::escape_keeping_lines(&text).as_bytes())
            } else {
                out.write_all(&bytes)
            }
        })?;
    } else {
        let json = serde_json::to_string_pretty(&inspect::inspect(&opts, &notes).await?)?;
        crate::stdout::write(|out| {
            if terminal {
                writeln!(out, "{}", terminal_text::escape_json(&json))
            } else {
                writeln!(out, "{json}")
            }
        })?;
    }
    Ok(())
}

/// The longest note shown, as for a pull's progress lines.
const MAX_NOTE_CHARS: usize = 1000;

/// inspect has no progress to show, only notes and warnings (an unusable cache, a fallback
/// tag): one line each on stderr, escaped, as a pull shows them.
struct NotesOnStderr;

impl Progress for NotesOnStderr {
    fn event(&self, event: Event) {
        if let Event::Note(note) = event {
            eprintln!("{}", terminal_text::shown_up_to(&note, MAX_NOTE_CHARS));
        }
    }
}

//! Turning an error into one readable line on stderr and an exit code.
//!
//! 0 ok, 1 the pull failed (network, auth, not found, integrity), 2 usage, 130 interrupted.
//!
//! Errors carry words from registries and images; the line is escaped and cut short here, for
//! every error alike (see [`drag_core::terminal_text`]), so none can drive the terminal.

use std::process::ExitCode;

use drag_core::terminal_text;
use drag_core::Error;

/// The longest error line shown: each hostile field is already cut to about 200 characters,
/// this bounds what the fields add up to.
const MAX_LINE_CHARS: usize = 2000;

pub fn report(e: &anyhow::Error) -> ExitCode {
    // Core errors already say their cause in one line; the chain would repeat it.
    let line = match e.downcast_ref::<Error>() {
        Some(core) => core.to_string(),
        None => format!("{e:#}"),
    };
    eprintln!(
        "drag: error: {}",
        terminal_text::shown_up_to(&line, MAX_LINE_CHARS)
    );
    ExitCode::from(exit_code(e))
}

fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<Error>() {
        Some(Error::Interrupted) => 130,
        Some(core) if core.is_usage() => 2,
        _ => 1,
    }
}

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

/// The longest hint kept: ours are a sentence, with a host and perhaps an auth file's path.
const MAX_HINT_CHARS: usize = 1000;

pub fn report(e: &anyhow::Error) -> ExitCode {
    eprintln!("drag: error: {}", line(e));
    ExitCode::from(exit_code(e))
}

/// The error as one line, escaped and cut short; a hint (what to do) is kept whole at its
/// end, however long the registry's words before it were.
fn line(e: &anyhow::Error) -> String {
    // Core errors already say their cause in one line; the chain would repeat it.
    let Some(core) = e.downcast_ref::<Error>() else {
        return terminal_text::shown_up_to(&format!("{e:#}"), MAX_LINE_CHARS);
    };
    let whole = core.to_string();
    let hint = core.hint().map(|h| format!(": {h}"));
    match hint
        .as_deref()
        .and_then(|h| Some((whole.strip_suffix(h)?, h)))
    {
        Some((cause, hint)) => format!(
            "{}{}",
            terminal_text::shown_up_to(cause, MAX_LINE_CHARS),
            terminal_text::shown_up_to(hint, MAX_HINT_CHARS)
        ),
        None => terminal_text::shown_up_to(&whole, MAX_LINE_CHARS),
    }
}

fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<Error>() {
        Some(Error::Interrupted) => 130,
        Some(core) if core.is_usage() => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drag_core::RegistryError;

    #[test]
    fn a_hint_survives_however_long_the_registrys_words_before_it() {
        let long: Vec<_> = (0..8)
            .map(|i| serde_json::json!({"code": format!("C{i}"), "message": "x".repeat(5000)}))
            .collect();
        let body = serde_json::json!({ "errors": long }).to_string();
        let context = format!("manifest registry.example/{}app:1", "team/".repeat(40));
        let mut e = RegistryError::from_body(context, 401, body.as_bytes());
        e.hint = Some("registry.example wants a login: `podman login registry.example`".into());
        let shown = line(&anyhow::Error::from(Error::from(e.clone())));
        let whole = Error::from(e).to_string();
        assert!(whole.chars().count() > MAX_LINE_CHARS, "{}", whole.len());
        assert!(
            shown.ends_with(": registry.example wants a login: `podman login registry.example`"),
            "{shown}"
        );
        assert!(shown.chars().count() < MAX_LINE_CHARS + MAX_HINT_CHARS + 100);
    }
}

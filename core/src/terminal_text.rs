//! Text from a registry made safe to show on a terminal.
//!
//! Registries are not trusted, and neither is what they say: an error message, an error code,
//! a tag name or a platform string may carry escape sequences that clear the screen, move the
//! cursor or fake a success line (`\r` then "done"), and it may be megabytes long. Everything
//! drag shows that came from the wire passes through [`escape`], and fields that can be long
//! through [`shown`], so a message stays one visible line of bounded length.
//!
//! Escaping leaves backslashes alone, so escaping twice changes nothing: error `Display`
//! escapes its registry fields and the CLI escapes the whole line again, at no risk.

use std::borrow::Cow;
use std::fmt::Write;

/// How many characters of one hostile field a message shows.
pub const SHOWN_CHARS: usize = 200;

/// True for characters a terminal acts on instead of showing: C0 and C1 controls and DEL
/// (escape sequences, `\r`, backspace), and the Unicode controls that reorder or hide text
/// (bidirectional overrides and isolates, as in "Trojan Source").
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every unsafe character written out: `\x1b`, `\r`, `\n`, `\t`, `\u{202e}`.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// [`escape`]d and cut to at most [`SHOWN_CHARS`] characters, saying how much was left out.
pub fn shown(s: &str) -> String {
    shown_up_to(s, SHOWN_CHARS)
}

/// [`escape`]d and cut to about `max` characters (the note on what was cut comes on top).
pub fn shown_up_to(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut chars = s.char_indices();
    for (i, c) in chars.by_ref() {
        if out.chars().count() >= max {
            let rest = s.len() - i;
            let _ = write!(out, "... ({rest} more bytes)");
            return out;
        }
        push_escaped(&mut out, c);
    }
    out
}

/// Text shown whole on a terminal (a manifest with `inspect --raw`): like [`escape`], but
/// line breaks and tabs stay, as they only lay the text out.
pub fn escape_keeping_lines(s: &str) -> Cow<'_, str> {
    let unsafe_here = |c: char| is_unsafe(c) && c != '\n' && c != '\t';
    if !s.chars().any(unsafe_here) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_here(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text made safe for a terminal and still the same JSON: unsafe characters, which a
/// serializer leaves only inside strings (DEL, C1 controls, bidi controls), become `\uXXXX`
/// escapes. Line breaks outside strings stay.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    let unsafe_here = |c: char| is_unsafe(c) && c != '\n';
    if !json.chars().any(unsafe_here) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if unsafe_here(c) {
            // Every unsafe character is in the Basic Multilingual Plane: one escape each.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    if !is_unsafe(c) {
        out.push(c);
        return;
    }
    let _ = match c {
        '\n' => write!(out, "\\n"),
        '\r' => write!(out, "\\r"),
        '\t' => write!(out, "\\t"),
        c if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_written_out() {
        let hostile = "oops\x1b[2J\rdrag: done\n\u{9b}31m\u{202e}txt.exe\x7f";
        let e = escape(hostile);
        assert_eq!(
            e,
            "oops\\x1b[2J\\rdrag: done\\n\\u{9b}31m\\u{202e}txt.exe\\x7f"
        );
        assert!(!e.chars().any(is_unsafe));
    }

    #[test]
    fn plain_text_is_untouched_and_escaping_twice_changes_nothing() {
        assert!(matches!(escape("manifest unknown"), Cow::Borrowed(_)));
        let once = escape("a\x1bb\\x1b").into_owned();
        assert_eq!(escape(&once), once);
    }

    #[test]
    fn whole_texts_keep_their_lines() {
        assert_eq!(
            escape_keeping_lines("{\n\t\"a\": \"\x1b[2J\r\"\n}"),
            "{\n\t\"a\": \"\\x1b[2J\\r\"\n}"
        );
        let json = serde_json::to_string_pretty(&serde_json::json!({"a": "x\u{9b}2J\u{202e}\x7f"}))
            .unwrap();
        let safe = escape_json(&json);
        assert!(!safe.chars().any(|c| is_unsafe(c) && c != '\n'), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["a"], "x\u{9b}2J\u{202e}\x7f", "the same JSON");
    }

    #[test]
    fn long_text_is_cut_with_a_count_of_what_was_left_out() {
        let long = "x".repeat(10_000);
        let s = shown(&long);
        assert!(s.starts_with(&"x".repeat(SHOWN_CHARS)));
        assert!(s.ends_with("... (9800 more bytes)"), "{s}");
        assert!(s.chars().count() < SHOWN_CHARS + 30);
        assert_eq!(shown("short"), "short");
        assert_eq!(shown_up_to("\x1b\x1b\x1b", 4), "\\x1b... (2 more bytes)");
    }
}

//! One line per request on the log sink (stderr from the CLI): who asked, what, the answer's
//! status and size, and how long it took. The request target comes from the wire, so it is
//! escaped and cut short; credentials never appear (only the user name a login checked as).

use std::net::SocketAddr;
use std::time::Duration;

use crate::terminal_text;

/// Where `drag serve` writes its request lines and notes.
pub trait ServeLog: Send + Sync {
    /// One line, without its newline.
    fn line(&self, line: &str);
}

/// The most characters of a request target shown.
const SHOWN_TARGET: usize = 300;

/// `127.0.0.1:40000 alice "GET /v2/..." 200 1234 5ms`
pub(crate) fn request_line(
    remote: SocketAddr,
    user: Option<&str>,
    method: &str,
    target: &str,
    status: u16,
    bytes: Option<u64>,
    took: Duration,
) -> String {
    format!(
        "{remote} {} \"{} {}\" {status} {} {}ms",
        user.map(terminal_text::shown).unwrap_or_else(|| "-".into()),
        terminal_text::shown(method),
        terminal_text::shown_up_to(target, SHOWN_TARGET).replace('"', "\\\""),
        bytes.map_or("-".to_string(), |b| b.to_string()),
        took.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_target_stays_one_escaped_line() {
        let line = request_line(
            "127.0.0.1:1".parse().unwrap(),
            None,
            "GET",
            "/v2/\x1b[2J\r\n\"x",
            400,
            Some(10),
            Duration::from_millis(3),
        );
        assert_eq!(
            line,
            "127.0.0.1:1 - \"GET /v2/\\x1b[2J\\r\\n\\\"x\" 400 10 3ms"
        );
        let long = request_line(
            "127.0.0.1:1".parse().unwrap(),
            Some("alice"),
            "GET",
            &"a".repeat(5000),
            414,
            None,
            Duration::ZERO,
        );
        assert!(long.len() < 400, "{long}");
    }
}

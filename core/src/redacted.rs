//! A URL that is safe to show: the only form in which a URL reaches a message or the trace.
//!
//! Registry URLs can carry secrets: user info (`https://user:pass@host/`), and signed CDN URLs
//! whose query string is the credential. Cutting them out by hand at each message is easy to
//! forget, so messages take this type, whose `Display` and `Debug` leave both out, and which
//! never hands the original back.

use std::fmt;

use url::Url;

use crate::terminal_text;

/// A URL without user info and query string, escaped for a terminal when shown.
#[derive(Clone, PartialEq, Eq)]
pub struct RedactedUrl(Url);

impl RedactedUrl {
    /// The redacted form of `url`.
    pub fn new(url: &Url) -> RedactedUrl {
        let mut u = url.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.set_query(None);
        u.set_fragment(None);
        RedactedUrl(u)
    }

    /// The host, for messages that name only it.
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }
}

impl From<&Url> for RedactedUrl {
    fn from(url: &Url) -> RedactedUrl {
        RedactedUrl::new(url)
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A path or host from the wire (a redirect's Location) may hold anything: at most a
        // bounded, escaped part of it reaches the terminal.
        f.write_str(&terminal_text::shown(self.0.as_str()))
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedactedUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_query_and_fragment_never_show() {
        let u =
            Url::parse("https://user:hunter2@cdn.example/blob/x?sig=secret&exp=1#frag").unwrap();
        let r = RedactedUrl::new(&u);
        assert_eq!(r.to_string(), "https://cdn.example/blob/x");
        let debug = format!("{r:?}");
        for secret in ["user", "hunter2", "secret", "sig", "frag"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert_eq!(r.host(), "cdn.example");
    }

    #[test]
    fn a_hostile_path_is_escaped_and_cut_short() {
        let long = format!("https://evil.example/{}\x1b[2J", "a".repeat(5000));
        // The url crate percent-encodes control characters in paths; what remains is bounded.
        let r = RedactedUrl::new(&Url::parse(&long).unwrap());
        let shown = r.to_string();
        assert!(!shown.chars().any(terminal_text::is_unsafe), "{shown}");
        assert!(shown.len() < 400, "{} characters", shown.len());
    }
}

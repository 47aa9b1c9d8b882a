//! Docker Hub's pull limit, as its answers tell it.
//!
//! Docker Hub counts manifest GETs (not HEADs) per IP address for anonymous pulls and per
//! account for logged-in ones, and says where the count stands in three headers:
//! `ratelimit-limit: 100;w=21600` (pulls per window of `w` seconds), `ratelimit-remaining:
//! 76;w=21600`, and `docker-ratelimit-source` (the IP address or account counted). Accounts
//! without a limit get none of them.
//!
//! A spent limit is a 429 `TOOMANYREQUESTS` ("You have reached your pull rate limit") with
//! nothing left; waiting seconds for it is useless, so the answer is final, and says that
//! logging in raises the limit. Docker Hub's other 429s (its overall per-second limit) are
//! worth retrying and are left to their status.
//!
//! A warning comes when few pulls are left: under 10 % of the limit, or fewer than 3 (the
//! anonymous limit can be as low as 10, where "under 10" would warn on every pull).

use std::net::IpAddr;

use drag_core::adapter::{Answer, ResponseQuirks, Verdict};
use drag_core::http::{HeaderMap, StatusCode};
use drag_core::terminal_text::shown;
use drag_core::RegistryError;

/// The longest `docker-ratelimit-source` kept: an address or an account ID is far shorter.
const MAX_SOURCE_CHARS: usize = 100;

/// Where Docker Hub's pull count stands, as far as an answer's headers say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullLimit {
    /// Pulls allowed per window.
    pub limit: Option<u64>,
    /// Pulls left in the current window.
    pub remaining: Option<u64>,
    /// The window's length in seconds (`w=`).
    pub window_secs: Option<u64>,
    /// The IP address or account counted, escaped for a terminal.
    pub source: Option<String>,
    /// Seconds until the window resets, when an answer says (`ratelimit-reset`, or
    /// `Retry-After` on a spent limit).
    pub reset_secs: Option<u64>,
}

impl PullLimit {
    /// The figures in `headers`; None when they hold neither a limit nor a count left (an
    /// account without a limit, or not Docker Hub).
    pub fn from_headers(headers: &HeaderMap) -> Option<PullLimit> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let limit = text("ratelimit-limit").and_then(count_and_window);
        let remaining = text("ratelimit-remaining").and_then(count_and_window);
        if limit.is_none() && remaining.is_none() {
            return None;
        }
        let seconds = |name: &str| text(name).and_then(|v| v.trim().parse::<u64>().ok());
        Some(PullLimit {
            limit: limit.map(|(n, _)| n),
            remaining: remaining.map(|(n, _)| n),
            window_secs: limit
                .and_then(|(_, w)| w)
                .or(remaining.and_then(|(_, w)| w)),
            source: text("docker-ratelimit-source")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| shown(&s.chars().take(MAX_SOURCE_CHARS).collect::<String>())),
            reset_secs: seconds("ratelimit-reset").or_else(|| seconds("retry-after")),
        })
    }

    /// True when few pulls are left: under 10 % of the limit, or fewer than 3.
    pub fn is_low(&self) -> bool {
        match (self.remaining, self.limit) {
            (Some(left), Some(limit)) => left.saturating_mul(10) < limit || left < 3,
            (Some(left), None) => left < 3,
            _ => false,
        }
    }

    /// True when anonymous pulls are counted (by IP address): logging in raises the limit.
    fn counts_an_address(&self) -> bool {
        match &self.source {
            Some(s) => s.parse::<IpAddr>().is_ok(),
            // Without a source, assume the common case: an anonymous pull.
            None => true,
        }
    }

    /// `for 1.2.3.4`, when the answer said whose pulls are counted.
    fn whom(&self) -> Option<String> {
        self.source.as_deref().map(|s| format!("for {s}"))
    }

    /// The warning for few pulls left.
    fn warning(&self) -> String {
        let left = self.remaining.unwrap_or(0);
        let of = self.limit.map(|l| format!(" of {l}")).unwrap_or_default();
        let window = self
            .window_secs
            .map(|w| format!(" in this {} window", duration(w)))
            .unwrap_or_default();
        let mut text = format!(
            "{left}{of} Docker Hub pull{} left{window}",
            if left == 1 && of.is_empty() { "" } else { "s" },
        );
        if let Some(whom) = self.whom() {
            text.push_str(&format!(" ({whom})"));
        }
        if self.counts_an_address() {
            text.push_str(
                "; log in to raise the limit (drag login docker.io, docker login, or --user)",
            );
        }
        text
    }

    /// The hint for a spent limit: what raises it, and when it resets if the answer says.
    fn spent(&self) -> String {
        let figures = match (self.limit, self.window_secs) {
            (Some(l), Some(w)) => Some(format!("{l} per {}", duration(w))),
            _ => None,
        };
        let said: Vec<String> = figures.into_iter().chain(self.whom()).collect();
        let mut text = "Docker Hub's pull limit is spent".to_string();
        if !said.is_empty() {
            text.push_str(&format!(" ({})", said.join(" ")));
        }
        if self.counts_an_address() {
            text.push_str(": log in to raise it (drag login docker.io, docker login, or --user)");
        }
        match (self.reset_secs, self.window_secs) {
            (Some(s), _) => text.push_str(&format!("; it resets in {}", duration(s))),
            (None, Some(w)) => text.push_str(&format!("; it resets within {}", duration(w))),
            (None, None) => {}
        }
        text
    }
}

/// `100;w=21600` as (100, Some(21600)); `100` as (100, None).
fn count_and_window(value: &str) -> Option<(u64, Option<u64>)> {
    let mut parts = value.split(';');
    let count = parts.next()?.trim().parse().ok()?;
    let window = parts
        .filter_map(|p| p.trim().strip_prefix("w="))
        .find_map(|w| w.trim().parse().ok());
    Some((count, window))
}

/// `6 h`, `25 min`, `40 s`: a window or a wait, as people say them.
// `is_multiple_of` is newer than the workspace's rust-version (1.86).
#[allow(clippy::manual_is_multiple_of)]
fn duration(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        _ if secs % 3600 == 0 => format!("{} h", secs / 3600),
        120..7200 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{:.1} h", secs as f64 / 3600.0),
    }
}

/// Docker Hub's reading of its answers: the pull limit's headers and its spent-limit 429.
pub(crate) struct PullLimits;

impl ResponseQuirks for PullLimits {
    fn inspect_response(&self, status: StatusCode, headers: &HeaderMap) -> Verdict {
        let limit = PullLimit::from_headers(headers);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let answer = match &limit {
                Some(l) if l.remaining == Some(0) => Answer::Final(l.spent()),
                // The same 429 for a per-second limit and a spent one: the body tells.
                _ => Answer::ReadError,
            };
            return Verdict {
                notice: None,
                answer,
            };
        }
        Verdict {
            notice: limit.filter(PullLimit::is_low).map(|l| l.warning()),
            answer: Answer::AsItsStatusSays,
        }
    }

    fn inspect_error(&self, error: &RegistryError, headers: &HeaderMap) -> Option<String> {
        let spent = error.diagnostics.iter().any(|d| {
            d.message
                .as_deref()
                .is_some_and(|m| m.to_ascii_lowercase().contains("pull rate limit"))
        });
        spent.then(|| {
            let mut limit = PullLimit::from_headers(headers).unwrap_or_default();
            limit.reset_secs = limit.reset_secs.or(error.retry_after);
            limit.spent()
        })
    }
}

#[cfg(test)]
mod tests {
    use drag_core::http::HeaderMap;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn hub(limit: &'static str, remaining: &'static str) -> HeaderMap {
        headers(&[
            ("ratelimit-limit", limit),
            ("ratelimit-remaining", remaining),
            ("docker-ratelimit-source", "1.2.3.4"),
        ])
    }

    #[test]
    fn the_headers_are_read_as_docker_hub_sends_them() {
        let l = PullLimit::from_headers(&hub("100;w=21600", "76;w=21600")).unwrap();
        assert_eq!(
            l,
            PullLimit {
                limit: Some(100),
                remaining: Some(76),
                window_secs: Some(21600),
                source: Some("1.2.3.4".into()),
                reset_secs: None,
            }
        );
        assert_eq!(PullLimit::from_headers(&HeaderMap::new()), None);
        let odd = headers(&[("ratelimit-limit", "lots"), ("ratelimit-remaining", "-1")]);
        assert_eq!(PullLimit::from_headers(&odd), None);
    }

    #[test]
    fn few_pulls_left_is_under_a_tenth_or_under_three() {
        let low = |limit, left| {
            PullLimit {
                limit: Some(limit),
                remaining: Some(left),
                ..PullLimit::default()
            }
            .is_low()
        };
        assert!(low(100, 9));
        assert!(!low(100, 10));
        assert!(low(10, 2));
        assert!(!low(10, 3));
        assert!(low(5000, 499));
        assert!(!low(5000, 500));
    }

    #[test]
    fn a_low_count_warns_and_says_logging_in_raises_the_limit() {
        let v = PullLimits.inspect_response(StatusCode::OK, &hub("100;w=21600", "3;w=21600"));
        assert_eq!(
            v.notice.as_deref(),
            Some(
                "3 of 100 Docker Hub pulls left in this 6 h window (for 1.2.3.4); log in to \
                 raise the limit (drag login docker.io, docker login, or --user)"
            )
        );
        assert_eq!(v.answer, Answer::AsItsStatusSays);
        let plenty = PullLimits.inspect_response(StatusCode::OK, &hub("100;w=21600", "76"));
        assert_eq!(plenty.notice, None);
    }

    #[test]
    fn an_account_counted_is_not_told_to_log_in() {
        let mut h = hub("200;w=21600", "4;w=21600");
        h.insert("docker-ratelimit-source", "5f2e6a1c-user".parse().unwrap());
        let v = PullLimits.inspect_response(StatusCode::OK, &h);
        assert_eq!(
            v.notice.as_deref(),
            Some("4 of 200 Docker Hub pulls left in this 6 h window (for 5f2e6a1c-user)")
        );
    }

    #[test]
    fn a_429_with_nothing_left_is_final_with_the_login_hint_and_the_window() {
        let v = PullLimits.inspect_response(
            StatusCode::TOO_MANY_REQUESTS,
            &hub("100;w=21600", "0;w=21600"),
        );
        assert_eq!(
            v.answer,
            Answer::Final(
                "Docker Hub's pull limit is spent (100 per 6 h for 1.2.3.4): log in to raise \
                 it (drag login docker.io, docker login, or --user); it resets within 6 h"
                    .into()
            )
        );
        assert_eq!(v.notice, None);
    }

    #[test]
    fn a_429_with_pulls_left_is_left_to_its_status_after_reading_its_body() {
        let h = hub("100;w=21600", "40;w=21600");
        let v = PullLimits.inspect_response(StatusCode::TOO_MANY_REQUESTS, &h);
        assert_eq!(v.answer, Answer::ReadError);
        let busy = RegistryError::from_body(
            "manifest x",
            429,
            br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"Too Many Requests"}]}"#,
        );
        assert_eq!(PullLimits.inspect_error(&busy, &h), None);
    }

    #[test]
    fn the_spent_limits_message_is_final_and_says_when_it_resets() {
        let mut e = RegistryError::from_body(
            "manifest x",
            429,
            br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"}]}"#,
        );
        e.retry_after = Some(1500);
        assert_eq!(
            PullLimits.inspect_error(&e, &HeaderMap::new()).as_deref(),
            Some(
                "Docker Hub's pull limit is spent: log in to raise it (drag login docker.io, docker \
                 login, or --user); it resets in 25 min"
            )
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(21600), "6 h");
        assert_eq!(duration(3600), "1 h");
        assert_eq!(duration(3000), "50 min");
        assert_eq!(duration(1500), "25 min");
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(9000), "2.5 h");
    }
}

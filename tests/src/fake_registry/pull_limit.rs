//! Docker Hub's pull limit, as the fake registry plays it: manifest GETs are counted, HEADs
//! are not, every manifest answer says where the count stands in `ratelimit-*` headers, and a
//! GET once the count is spent gets Docker Hub's 429 `TOOMANYREQUESTS`.

use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;

use super::{errors, Shared};

/// The pull limit the fake enforces (see [`super::FakeRegistryBuilder::pull_limit`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullLimit {
    /// Pulls per window (`ratelimit-limit: 100;w=21600`).
    pub limit: u64,
    /// Pulls left when the registry starts.
    pub remaining: u64,
    /// The window's length in seconds.
    pub window_secs: u64,
    /// What `docker-ratelimit-source` says (the IP address or account counted).
    pub source: String,
    /// Whether the spent limit's 429 carries the `ratelimit-*` headers too. Docker Hub's
    /// does; without them a client has only the body's words to go by.
    pub headers_when_spent: bool,
}

impl PullLimit {
    /// Anonymous Docker Hub's figures: 100 pulls per 6 hours, `remaining` of them left.
    pub fn anonymous(remaining: u64) -> PullLimit {
        PullLimit {
            limit: 100,
            remaining,
            window_secs: 21600,
            source: "192.0.2.7".to_string(),
            headers_when_spent: true,
        }
    }
}

/// What Docker Hub says when the limit is spent.
pub const SPENT_MESSAGE: &str = "You have reached your pull rate limit. You may increase the \
                                 limit by authenticating and upgrading: \
                                 https://www.docker.com/increase-rate-limit";

/// Answers a manifest request with `answer`, counting it as Docker Hub does when the
/// registry has a pull limit.
pub(super) fn counted(
    shared: &Shared,
    method: &Method,
    answer: impl FnOnce() -> Response,
) -> Response {
    let Some(limit) = &shared.config.pull_limit else {
        return answer();
    };
    let left = *shared
        .state
        .lock()
        .expect("fake registry state")
        .pulls_left
        .get_or_insert(limit.remaining);
    if method == Method::GET && left == 0 {
        let mut response = errors::response(
            StatusCode::TOO_MANY_REQUESTS,
            "TOOMANYREQUESTS",
            SPENT_MESSAGE,
            None,
        );
        if limit.headers_when_spent {
            add_headers(&mut response, limit, 0);
        }
        return response;
    }
    let mut response = answer();
    let left = if method == Method::GET && response.status().is_success() {
        let mut state = shared.state.lock().expect("fake registry state");
        let n = state.pulls_left.get_or_insert(limit.remaining);
        *n = n.saturating_sub(1);
        *n
    } else {
        left
    };
    add_headers(&mut response, limit, left);
    response
}

fn add_headers(response: &mut Response, limit: &PullLimit, left: u64) {
    let headers = response.headers_mut();
    let value = |s: String| HeaderValue::from_str(&s).expect("valid header value");
    headers.insert(
        "ratelimit-limit",
        value(format!("{};w={}", limit.limit, limit.window_secs)),
    );
    headers.insert(
        "ratelimit-remaining",
        value(format!("{left};w={}", limit.window_secs)),
    );
    headers.insert("docker-ratelimit-source", value(limit.source.clone()));
}

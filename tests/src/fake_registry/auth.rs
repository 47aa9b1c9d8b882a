//! How the fake registry authenticates: anonymous, Basic, or Docker's
//! token flow (401 challenge -> `/token` -> `Authorization: Bearer`).
//!
//! Tokens are scoped like Docker Hub's: a token issued for
//! `repository:a:pull` does not open `b`, and revoked or expired tokens get
//! `error="invalid_token"`, so tests can check that a client asks for the
//! right scope and fetches a fresh token after a 401 mid-pull.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::{errors, Shared};

/// The `service` the fake's challenges and tokens name.
pub const SERVICE: &str = "fake-registry";

/// How the fake registry wants clients to authenticate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// Everything is open.
    Anonymous,
    /// Docker's token flow; `/token` issues tokens to anyone (credentials,
    /// if sent, are only recorded in [`TokenRequest::authorization`]).
    Bearer {
        /// Which field(s) of the token response carry the token.
        token_field: TokenField,
        /// Sent as `expires_in` and enforced; `None` omits the field and
        /// issues tokens that never expire.
        expires_in: Option<u64>,
    },
    /// HTTP Basic with one user.
    Basic { user: String, pass: String },
}

impl AuthMode {
    /// Bearer tokens in both `token` and `access_token`, never expiring.
    pub fn bearer() -> AuthMode {
        AuthMode::Bearer {
            token_field: TokenField::Both,
            expires_in: None,
        }
    }
}

/// Which JSON field(s) the `/token` response uses. Docker Hub sends both;
/// some registries send only one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenField {
    Token,
    AccessToken,
    Both,
}

/// One call to `/token`, as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// Every `scope` parameter, in order.
    pub scopes: Vec<String>,
    pub service: Option<String>,
    /// The request's `Authorization` header (clients send Basic credentials here).
    pub authorization: Option<String>,
    /// `POST` (the OAuth2 form, for identity tokens) or `GET`.
    pub method: String,
    /// The OAuth2 form's `grant_type` and `refresh_token`, when POSTed.
    pub grant_type: Option<String>,
    pub refresh_token: Option<String>,
    /// The token issued in answer; empty when the service refused (see `TokenLogins`).
    pub token: String,
}

#[derive(Clone, Debug)]
pub(super) struct IssuedToken {
    scopes: Vec<String>,
    expires_at: Option<Instant>,
}

/// Checks a request for `repo` (or for `/v2/` when `None`): `None` lets it
/// through, `Some` is the 401 to send instead.
pub(super) fn refusal(
    shared: &Shared,
    headers: &HeaderMap,
    repo: Option<&str>,
) -> Option<Response> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match &shared.config.auth {
        AuthMode::Anonymous => None,
        AuthMode::Basic { user, pass } => {
            let expected = basic(user, pass);
            if let Some(expired) = &shared.config.expired_password {
                let stale = basic(user, expired);
                if presented == Some(stale.as_str()) {
                    return Some(super::cloud::ecr_expired());
                }
            }
            (presented != Some(expected.as_str())).then(|| {
                unauthorized(
                    shared
                        .config
                        .basic_challenge
                        .clone()
                        .unwrap_or_else(|| format!("Basic realm=\"{SERVICE}\"")),
                    "basic credentials required",
                )
            })
        }
        AuthMode::Bearer { .. } => {
            let token = presented.and_then(|v| v.strip_prefix("Bearer "));
            let verdict = token.map(|token| {
                let state = shared.state.lock().expect("fake registry state");
                match state.tokens.get(token) {
                    None => Some("invalid_token"),
                    Some(issued) if issued.expires_at.is_some_and(|t| Instant::now() >= t) => {
                        Some("invalid_token")
                    }
                    Some(issued) => match repo {
                        None => None,
                        Some(repo) if issued.scopes.iter().any(|s| grants_pull(s, repo)) => None,
                        Some(_) => Some("insufficient_scope"),
                    },
                }
            });
            match verdict {
                Some(None) => None,
                Some(Some(_)) if shared.config.stale_token_challenge.is_some() => {
                    let challenge = shared.config.stale_token_challenge.clone();
                    Some(unauthorized(
                        challenge.unwrap_or_default(),
                        "unauthorized to access repository",
                    ))
                }
                error => {
                    let config = &shared.config;
                    let mut challenge = format!("Bearer realm=\"{}/token\"", shared.url());
                    if config.challenge_service {
                        challenge.push_str(&format!(",service=\"{SERVICE}\""));
                    }
                    if let Some(repo) = repo {
                        if config.unquoted_scope {
                            challenge.push_str(&format!(",scope=repository:{repo}:pull"));
                        } else {
                            challenge.push_str(&format!(",scope=\"repository:{repo}:pull\""));
                        }
                    }
                    if let Some(Some(error)) = error {
                        challenge.push_str(&format!(",error=\"{error}\""));
                    }
                    Some(unauthorized(challenge, "authentication required"))
                }
            }
        }
    }
}

/// The `Authorization` value for `user`/`pass`.
fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// Whether `scope` (e.g. `repository:library/busybox:pull,push`) lets its
/// holder pull `repo`.
fn grants_pull(scope: &str, repo: &str) -> bool {
    let Some(rest) = scope.strip_prefix("repository:") else {
        return false;
    };
    let Some((name, actions)) = rest.rsplit_once(':') else {
        return false;
    };
    name == repo && actions.split(',').any(|a| a == "pull" || a == "*")
}

fn unauthorized(challenge: String, message: &str) -> Response {
    let mut response = errors::response(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        message,
        Some(serde_json::json!([{"Type": "repository", "Action": "pull"}])),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&challenge).expect("challenge is a valid header"),
    );
    response
}

/// `GET /token?service=...&scope=...`, or a `POST` of the same as an OAuth2 form (with
/// `grant_type` and `refresh_token`): issues a token for exactly the scopes asked.
pub(super) fn token_endpoint(
    shared: &Shared,
    query: &str,
    headers: &HeaderMap,
    form: Option<&[u8]>,
) -> Response {
    let AuthMode::Bearer {
        token_field,
        expires_in,
    } = &shared.config.auth
    else {
        return errors::response(StatusCode::NOT_FOUND, "NOT_FOUND", "no token service", None);
    };
    if let Some((user, pass)) = &shared.config.token_login {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if presented != Some(basic(user, pass).as_str()) {
            let body = serde_json::json!({"details": "incorrect username or password"});
            return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        }
    }
    let mut scopes = Vec::new();
    let mut service = None;
    let mut grant_type = None;
    let mut refresh_token = None;
    for (key, value) in url::form_urlencoded::parse(form.unwrap_or(query.as_bytes())) {
        match &*key {
            "scope" => scopes.extend(value.split(' ').map(str::to_string)),
            "service" => service = Some(value.into_owned()),
            "grant_type" => grant_type = Some(value.into_owned()),
            "refresh_token" => refresh_token = Some(value.into_owned()),
            _ => {}
        }
    }

    let mut state = shared.state.lock().expect("fake registry state");
    let request = |token: String| TokenRequest {
        scopes: scopes.clone(),
        service: service.clone(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        method: if form.is_some() { "POST" } else { "GET" }.to_string(),
        grant_type: grant_type.clone(),
        refresh_token: refresh_token.clone(),
        token,
    };
    if let Some(logins) = &shared.config.token_logins {
        let refused = logins.refusal(
            headers,
            form,
            grant_type.as_deref(),
            refresh_token.as_deref(),
        );
        if let Some(response) = refused {
            // Recorded with no token issued.
            let refused = request(String::new());
            state.token_requests.push(refused);
            return response;
        }
    }
    state.next_token += 1;
    let token = if shared.config.opaque_tokens {
        // ghcr.io's shape: base64 of `v1:…` with dots in it, which no JWT parser can read.
        format!("djE6b3BhcXVl.{}.bm90LWEtand0==", state.next_token)
    } else {
        format!("fake-token-{}", state.next_token)
    };
    state.tokens.insert(
        token.clone(),
        IssuedToken {
            scopes: scopes.clone(),
            // A lifetime past what Instant can hold (2^64-1 s) never expires.
            expires_at: expires_in.and_then(|s| Instant::now().checked_add(Duration::from_secs(s))),
        },
    );
    let issued = request(token.clone());
    state.token_requests.push(issued);
    drop(state);

    let mut body = serde_json::Map::new();
    if matches!(token_field, TokenField::Token | TokenField::Both) {
        body.insert("token".into(), token.clone().into());
    }
    if matches!(token_field, TokenField::AccessToken | TokenField::Both) {
        body.insert("access_token".into(), token.into());
    }
    if let Some(expires_in) = expires_in {
        body.insert("expires_in".into(), (*expires_in).into());
    }
    body.insert("issued_at".into(), rfc3339_now().into());
    let mut response = axum::Json(serde_json::Value::Object(body)).into_response();
    if let Some(content_type) = shared.config.token_content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response
}

/// Forgets every issued token, so the next request with one gets a 401.
pub(super) fn revoke_all(shared: &Shared) {
    shared
        .state
        .lock()
        .expect("fake registry state")
        .tokens
        .clear();
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ` (no date crate needed for one field).
fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_scope_matches_only_its_repository() {
        assert!(grants_pull(
            "repository:library/busybox:pull",
            "library/busybox"
        ));
        assert!(grants_pull("repository:a/b:push,pull", "a/b"));
        assert!(!grants_pull("repository:a/b:push", "a/b"));
        assert!(!grants_pull("repository:a/bc:pull", "a/b"));
        assert!(!grants_pull("registry:catalog:*", "a/b"));
        // A scope naming a prefix of a nested path (GitLab's groups) opens nothing.
        assert!(!grants_pull(
            "repository:group/sub:pull",
            "group/sub/sub2/project/image"
        ));
    }

    #[test]
    fn issued_at_looks_like_rfc3339() {
        let now = rfc3339_now();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'), "{now}");
    }
}

//! The fake registry's imitations of cloud and self-hosted registries' auth and paging:
//! ECR's Basic-only challenge and its 403 for an expired login, ECR's cap on the tag page
//! size, ECR Public's 401 to blob HEADs, a token service that checks logins (ACR's refresh
//! tokens by POST, Harbor's GET-only service), and Harbor's Basic re-challenge of a stale
//! token. Each is an option of [`super::FakeRegistryBuilder`], off by default.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::errors;

/// ECR's words for an expired login, in its 403 `DENIED`.
pub const ECR_EXPIRED_MESSAGE: &str =
    "Your authorization token has expired. Reauthenticate and try again.";

/// The logins a token service built with [`super::FakeRegistryBuilder::token_logins`] accepts;
/// anything else gets a 401 and no token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenLogins {
    /// `(user, password)` pairs accepted as Basic on a GET.
    pub basic: Vec<(String, String)>,
    /// Refresh tokens accepted by a POST of `grant_type=refresh_token` (ACR).
    pub refresh_tokens: Vec<String>,
    /// Whether the service takes POST at all; false answers it 405 (Harbor).
    pub post: bool,
}

impl TokenLogins {
    /// None when the request may have a token, else the answer refusing it.
    pub(super) fn refusal(
        &self,
        headers: &HeaderMap,
        form: Option<&[u8]>,
        grant_type: Option<&str>,
        refresh_token: Option<&str>,
    ) -> Option<Response> {
        let accepted = match form {
            Some(_) if !self.post => {
                return Some(
                    (StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed").into_response(),
                )
            }
            Some(_) => {
                grant_type == Some("refresh_token")
                    && refresh_token.is_some_and(|t| self.refresh_tokens.iter().any(|r| r == t))
            }
            None => basic_login(headers).is_some_and(|login| {
                self.basic
                    .iter()
                    .any(|(u, p)| (u, p) == (&login.0, &login.1))
            }),
        };
        (!accepted).then(|| {
            errors::response(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "invalid login for the token service",
                None,
            )
        })
    }
}

/// The user and password of a Basic `Authorization` header.
pub fn basic_login(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (user, pass) = std::str::from_utf8(&raw).ok()?.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// ECR's answer to a request carrying an expired login.
pub(super) fn ecr_expired() -> Response {
    errors::response(StatusCode::FORBIDDEN, "DENIED", ECR_EXPIRED_MESSAGE, None)
}

/// ECR's answer to a tag list asking for more than its cap.
pub(super) fn page_too_large(n: usize, cap: usize) -> Response {
    errors::response(
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER",
        &format!("n={n}: page size must be at most {cap}"),
        None,
    )
}

//! Registry authentication: answering challenges, caching what they earn, finding user
//! credentials.
//!
//! drag is anonymous by default. A 401 carries one or more `WWW-Authenticate` challenges; the
//! adapter's [`Authenticator`] answers them (the default here handles Bearer token services and
//! Basic), and the auth layer (`auth::layer`) caches the answer per scope until it
//! expires.

pub(crate) mod auth_files;
pub mod challenge;
pub(crate) mod cred_helper;
pub(crate) mod credentials;
pub(crate) mod layer;
pub(crate) mod realm;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::http::policy;
use crate::http::send::read_limited;
use crate::http::{Body, RedactedUrl, Request, Stack};
use crate::patience::Patience;
use crate::terminal_text::shown;
use challenge::Challenge;
pub use credentials::{Credentials, Secret};

/// Answers a registry's `WWW-Authenticate` challenge for the scopes a session needs.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// Returns the credential to send, or None to go on anonymously. The default handles
    /// Bearer (token service) and Basic challenges.
    async fn authenticate(
        &self,
        ctx: &AuthContext,
        challenges: &[Challenge],
        scopes: &[Scope],
    ) -> Result<Option<Credential>> {
        answer_challenges(ctx, challenges, scopes).await
    }

    /// How a user logs in to `host` (as hints name it), when this registry has its own way:
    /// ECR's `aws ecr get-login-password | drag login --username AWS --password-stdin HOST`.
    /// None says the usual `podman login HOST` / `docker login HOST` / `--user`. Error
    /// messages end with it when the registry wants a login or refused one.
    fn how_to_log_in(&self, _host: &str) -> Option<String> {
        None
    }
}

/// What a token is for: `repository:library/alpine:pull`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope(pub String);

impl Scope {
    /// The right to pull from `repository`.
    pub fn pull(repository: &str) -> Scope {
        Scope(format!("repository:{repository}:pull"))
    }

    /// The right to pull from and push to `repository`: what an upload asks for.
    pub fn push(repository: &str) -> Scope {
        Scope(format!("repository:{repository}:pull,push"))
    }

    /// Whether this scope asks to write (`push`, or `*`, which Harbor and GitLab grant).
    pub fn allows_push(&self) -> bool {
        self.0
            .rsplit(':')
            .next()
            .is_some_and(|actions| actions.split(',').any(|a| a == "push" || a == "*"))
    }
}

/// An `Authorization` header value and when it stops being good.
#[derive(Clone)]
pub struct Credential {
    /// The `Authorization` header's value (`Bearer ...`, `Basic ...`).
    pub header: String,
    /// When to ask again; None for credentials that do not expire (Basic).
    pub expires_at: Option<Instant>,
}

impl Credential {
    /// True until it expires.
    pub fn is_fresh(&self) -> bool {
        self.expires_at.is_none_or(|t| Instant::now() < t)
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret itself.
        let scheme = self.header.split(' ').next().unwrap_or("");
        write!(f, "Credential({scheme} <redacted>)")
    }
}

/// What an authenticator may use: the ways to send requests, the user's credentials for this
/// registry, and the transport policy.
pub struct AuthContext {
    /// Requests to the registry's own origin (a token service there), below the auth layer:
    /// retries and the trace, the registry's client certificate.
    pub registry_stack: Arc<Stack>,
    /// Requests to other hosts (a token service elsewhere): retries and the trace, no client
    /// certificate (see `transport::HttpClients::for_other_hosts`).
    pub other_stack: Arc<Stack>,
    /// The base URL of the registry the credentials belong to (the host actually contacted).
    pub registry: url::Url,
    /// The user's credentials for this registry, if any.
    pub credentials: Option<Credentials>,
    /// `--insecure`: plain HTTP to remote hosts allowed.
    pub insecure: bool,
    /// How long to wait for the token service's body.
    pub patience: Patience,
}

impl AuthContext {
    /// The same context with other credentials: for an adapter whose registry expects a login
    /// to be used another way than it was given (ACR's null-GUID user whose password is a
    /// refresh token; Harbor, whose token service takes no POST).
    pub fn with_credentials(&self, credentials: Option<Credentials>) -> AuthContext {
        AuthContext {
            registry_stack: self.registry_stack.clone(),
            other_stack: self.other_stack.clone(),
            registry: self.registry.clone(),
            credentials,
            insecure: self.insecure,
            patience: self.patience,
        }
    }

    /// The stack for a request to `url`: the registry's for its own origin, else the other.
    pub fn stack_for(&self, url: &url::Url) -> &Stack {
        if policy::same_origin(url, &self.registry) {
            &self.registry_stack
        } else {
            &self.other_stack
        }
    }
}

/// The most bytes a token response may have.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// The longest a token is kept, whatever its `expires_in` says: a day is longer than any
/// pull, and it keeps the arithmetic on `Instant` far from overflowing.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// The standard answer: a Bearer challenge goes to its token service; a Basic challenge gets
/// the user's credentials, if there are any.
pub async fn answer_challenges(
    ctx: &AuthContext,
    challenges: &[Challenge],
    scopes: &[Scope],
) -> Result<Option<Credential>> {
    if let Some(bearer) = challenges.iter().find(|c| c.is_bearer()) {
        return fetch_token(ctx, bearer, scopes).await.map(Some);
    }
    if challenges.iter().any(|c| c.is_basic()) {
        return Ok(ctx
            .credentials
            .as_ref()
            .and_then(Credentials::basic_header)
            .map(|header| Credential {
                header,
                expires_at: None,
            }));
    }
    Ok(None)
}

/// The challenges the registry's `/v2/` answers an anonymous GET with (none if it answers
/// anything but 401): where a registry says how it wants to be asked when a refusal elsewhere
/// says it differently (Harbor answers a stale token with a `Basic` challenge; its `/v2/` says
/// `Bearer`). Sent below the auth layer, without credentials.
pub async fn registry_challenges(ctx: &AuthContext) -> Result<Vec<Challenge>> {
    let url = ctx
        .registry
        .join("v2/")
        .map_err(|e| Error::Usage(format!("bad registry URL: {e}")))?;
    let ping = ctx
        .registry_stack
        .send(Request::new(
            Method::GET,
            url,
            "the registry's challenge (GET /v2/)",
        ))
        .await?;
    if ping.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Ok(Vec::new());
    }
    Ok(challenge::parse_all(
        ping.headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    ))
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Asks a token service (the challenge's realm) for a token for `scopes`.
pub async fn fetch_token(
    ctx: &AuthContext,
    challenge: &Challenge,
    scopes: &[Scope],
) -> Result<Credential> {
    let realm = challenge
        .param("realm")
        .ok_or_else(|| Error::Auth("Bearer challenge without a realm".into()))?;
    let mut url = url::Url::parse(realm).map_err(|e| {
        Error::Auth(format!(
            "token realm \"{}\" is not a URL: {e}",
            shown(realm)
        ))
    })?;
    policy::check_url(&url, ctx.insecure)?;
    let credentials = match &ctx.credentials {
        Some(c) => {
            realm::check_realm(&ctx.registry, &url, ctx.insecure)?;
            Some(c)
        }
        None => None,
    };
    {
        let mut q = url.query_pairs_mut();
        if let Some(service) = challenge.param("service") {
            q.append_pair("service", service);
        }
        for scope in scopes {
            q.append_pair("scope", &scope.0);
        }
    }
    let identity = credentials.and_then(Credentials::identity_token);
    let basic = credentials.and_then(Credentials::basic_header);
    let scope_words = scopes
        .iter()
        .map(|s| s.0.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    // `drag login` asks for no scope, as `docker login` does: a token that only proves the
    // password.
    let what = match scope_words.as_str() {
        "" => format!("token from {}", RedactedUrl::new(&url)),
        words => format!("token for {words} from {}", RedactedUrl::new(&url)),
    };
    let req = if let Some(refresh_token) = identity {
        // The OAuth2 form of the token protocol: an identity token is a refresh token.
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh_token);
        // As in the GET form: a challenge without a service (nvcr) sends none, not an empty one.
        if let Some(service) = challenge.param("service") {
            form.append_pair("service", service);
        }
        form.append_pair("scope", &scope_words)
            .append_pair("client_id", "drag");
        let mut realm_only = url.clone();
        realm_only.set_query(None);
        let mut req = Request::new(Method::POST, realm_only, &what);
        req.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        req.body = Body::Bytes(Bytes::from(form.finish()));
        req
    } else {
        let mut req = Request::new(Method::GET, url.clone(), &what);
        if let Some(value) = basic.and_then(|b| HeaderValue::from_str(&b).ok()) {
            req.headers.insert(AUTHORIZATION, value);
        }
        req
    };
    let started = Instant::now();
    // The registry's client certificate is for the registry: a realm elsewhere gets none.
    let resp = ctx.stack_for(&url).send(req).await?;
    if !resp.status().is_success() {
        // An error body gets the error-body limits (size and time), like any other.
        return Err(resp.into_error(what).await);
    }
    let body = read_limited(resp, MAX_TOKEN_RESPONSE, "token response", &ctx.patience).await?;
    let parsed: TokenResponse = serde_json::from_slice(&body)
        .map_err(|e| Error::Auth(format!("token response is not valid JSON: {e}")))?;
    let token = parsed
        .token
        .filter(|t| !t.is_empty())
        .or(parsed.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| Error::Auth("token response has neither token nor access_token".into()))?;
    Ok(Credential {
        header: format!("Bearer {token}"),
        expires_at: Some(expiry(started, parsed.expires_in)),
    })
}

/// When a token fetched at `started` with `expires_in` seconds is to be renewed. The spec's
/// default lifetime is 60 s; renew a little early so a token never expires between our check
/// and the registry's. Any `expires_in` (up to 2^64-1) is clamped, never overflowing.
fn expiry(started: Instant, expires_in: Option<u64>) -> Instant {
    let lifetime = Duration::from_secs(expires_in.unwrap_or(60))
        .clamp(Duration::from_secs(10), MAX_TOKEN_LIFETIME);
    let renew_at = lifetime - Duration::from_secs(5);
    started.checked_add(renew_at).unwrap_or(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_expires_in_gives_an_expiry_without_overflow() {
        let now = Instant::now();
        let day = expiry(now, Some(u64::MAX)) - now;
        assert_eq!(day, MAX_TOKEN_LIFETIME - Duration::from_secs(5));
        assert_eq!(expiry(now, Some(0)) - now, Duration::from_secs(5));
        assert_eq!(expiry(now, None) - now, Duration::from_secs(55));
        assert_eq!(expiry(now, Some(300)) - now, Duration::from_secs(295));
    }

    /// The realm check is made before any request: a refused realm is never contacted (the
    /// hosts below do not exist, so a request would fail differently).
    #[tokio::test]
    async fn credentials_are_not_sent_to_a_plain_http_realm_on_another_host() {
        let ctx = AuthContext {
            registry_stack: Arc::new(crate::http::scripted::stack(vec![])),
            other_stack: Arc::new(crate::http::scripted::stack(vec![])),
            registry: url::Url::parse("http://registry.invalid/").unwrap(),
            credentials: Some(Credentials::password("me", "secret")),
            insecure: true,
            patience: Patience::default(),
        };
        let challenge = Challenge {
            scheme: "bearer".into(),
            params: [("realm".to_string(), "http://evil.invalid/token".to_string())].into(),
        };
        let e = fetch_token(&ctx, &challenge, &[Scope::pull("app")])
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Refused { .. }), "{e}");
    }
}

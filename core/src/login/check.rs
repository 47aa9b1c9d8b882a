//! Whether a registry accepts a login, asked as `docker login` asks it, before anything is
//! stored.
//!
//! `GET /v2/` anonymously; its 401 challenge says how the registry authenticates. The
//! adapter's authenticator answers it with the credentials being checked and no scope (a
//! Bearer challenge sends them to the token service, which must hand out a token; a Basic one
//! makes the header), and `GET /v2/` with that answer must succeed. A registry that answers
//! 200 at once is open: there is nothing to check.
//!
//! Requests go through the same layers as a pull's (retries, `-v` trace, TLS and certs.d,
//! `--insecure`), and the credentials reach a token service only where the realm rule
//! (`auth::realm`) lets them.

use std::sync::Arc;

use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::Method;

use super::LoginHost;
use crate::auth::challenge::parse_all;
use crate::auth::layer::TokenCache;
use crate::auth::{AuthContext, Credentials};
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::name::ImageName;
use crate::reach::RegistryOptions;
use crate::registry::{self, SessionConfig};

/// What the registry said of a login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    /// It asked for credentials and took these.
    Accepted,
    /// It asked for none (`GET /v2/` answered 200 anonymously): nothing could be checked.
    Open,
}

/// Asks the registry `host` names whether it takes `credentials`. A refusal is an
/// [`Error::Registry`] carrying the registry's own code and message.
pub async fn check(
    host: &LoginHost,
    credentials: &Credentials,
    opts: &RegistryOptions,
) -> Result<Checked> {
    let connection = opts.connection(&host.host);
    let cfg = SessionConfig {
        scopes: Vec::new(),
        authenticator: host.adapter,
        name: ImageName {
            registry: host.host.clone(),
            repository: String::new(),
            familiar: host.host.clone(),
        },
        endpoint: opts
            .endpoint
            .clone()
            .unwrap_or_else(|| host.endpoint.clone()),
        probe_scheme: opts.endpoint.is_none() && host.probe_scheme,
        insecure: connection.insecure,
        cert_dir: connection.cert_dir,
        credentials: Some(credentials.clone()),
        clients: Arc::new(opts.http_clients()),
        tokens: Arc::new(TokenCache::default()),
        retry: opts.retry,
        patience: opts.patience,
        manifest_cache: None,
        trace: opts.trace.clone(),
        quirks: host.adapter.response_quirks(),
        tag_page_size: None,
        notices: opts.notices.clone(),
        login_host: host.host.clone(),
    };
    let ctx = registry::login_context(&cfg).await?;
    let who = format!("login to {} as {}", host.host, credentials.username);
    let anonymous = ping(&ctx, None).await?;
    if anonymous.status().is_success() {
        return Ok(Checked::Open);
    }
    if anonymous.status().as_u16() != 401 {
        return Err(refused(&who, anonymous.into_error("GET /v2/").await));
    }
    let challenges = parse_all(
        anonymous
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let answer = host
        .adapter
        .authenticate(&ctx, &challenges, &[])
        .await
        .map_err(|e| refused(&who, e))?
        .ok_or_else(|| {
            Error::Auth(format!(
                "{who}: the registry's challenge asks for nothing drag can answer with a password"
            ))
        })?;
    let answered = ping(&ctx, Some(&answer.header)).await?;
    if answered.status().is_success() {
        return Ok(Checked::Accepted);
    }
    Err(refused(&who, answered.into_error("GET /v2/").await))
}

/// `GET <base>v2/`, with `authorization` if given.
async fn ping(ctx: &AuthContext, authorization: Option<&str>) -> Result<Response> {
    let url = ctx
        .registry
        .join("v2/")
        .map_err(|e| Error::Usage(format!("bad registry URL: {e}")))?;
    let mut req = Request::new(Method::GET, url, "GET /v2/");
    if let Some(value) = authorization {
        let value = HeaderValue::from_str(value)
            .map_err(|_| Error::Auth("the credential is not a valid header value".into()))?;
        req.headers.insert(AUTHORIZATION, value);
    }
    ctx.registry_stack.send(req).await
}

/// A registry's refusal, saying it was this login's: its own code and message are kept, the
/// hints for pulls (which suggest logging in) are not.
fn refused(who: &str, e: Error) -> Error {
    match e {
        Error::Registry(mut r) => {
            r.context = format!("{who} refused ({})", r.context);
            r.hint = None;
            Error::Registry(r)
        }
        other => other,
    }
}

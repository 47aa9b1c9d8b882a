//! How a session's requests are sent: the HTTP layers composed, once, for one registry.
//!
//! Requests to the registry go Redirect -> Auth -> Retry -> Quirks -> Trace -> wire (Quirks
//! when the adapter reads its answers), over the client with
//! the registry's certificates. Hops to other hosts, and the token service when it lives
//! elsewhere, go Retry -> Trace -> wire over a client without the registry's client
//! certificate; a foreign layer's URLs go Redirect -> Retry -> Trace -> wire over that client.

use std::sync::Arc;

use url::Url;

use super::SessionConfig;
use crate::auth::layer::Auth;
use crate::auth::{AuthContext, Scope};
use crate::error::Result;
use crate::http::quirks::Quirks;
use crate::http::redirect::Redirects;
use crate::http::retry::Retry;
use crate::http::send::Wire;
use crate::http::trace::Tracing;
use crate::http::{Layer, Stack};
use crate::patience::Patience;
use crate::transport::PROBE_WAIT;

/// A session's two stacks.
pub(super) struct Stacks {
    /// For requests to the registry.
    pub registry: Stack,
    /// For a foreign layer's URLs.
    pub foreign: Stack,
}

/// The trace layer, when there is a trace.
fn traced(cfg: &SessionConfig) -> Vec<Arc<dyn Layer>> {
    match &cfg.trace {
        Some(t) => vec![Arc::new(Tracing::new(t.clone()))],
        None => vec![],
    }
}

/// Retry (telling each retry to the notices sink) and trace: the bottom of every stack that
/// sends real requests.
fn bottom(cfg: &SessionConfig) -> Vec<Arc<dyn Layer>> {
    let retry = Retry::new(cfg.retry).telling(cfg.notices.clone());
    let mut layers: Vec<Arc<dyn Layer>> = vec![Arc::new(retry)];
    layers.extend(traced(cfg));
    layers
}

/// The HTTPS probe's stack: one answer settles it, so no retries, and a short wait.
pub(super) fn probe(cfg: &SessionConfig, http: &reqwest::Client) -> Stack {
    let wait = Patience {
        header_timeout: PROBE_WAIT,
        ..cfg.patience
    };
    Stack::new(traced(cfg), Wire::new(http.clone(), wait))
}

/// What an authenticator for the registry at `base` (whose client is `http`) sends its own
/// requests through: retries and the trace, no auth layer; `others` for other hosts.
fn auth_context(
    cfg: &SessionConfig,
    base: &Url,
    http: &reqwest::Client,
    others: Arc<Stack>,
) -> AuthContext {
    AuthContext {
        registry_stack: Arc::new(Stack::new(
            bottom(cfg),
            Wire::new(http.clone(), cfg.patience),
        )),
        other_stack: others,
        registry: base.clone(),
        credentials: cfg.credentials.clone(),
        insecure: cfg.insecure,
        patience: cfg.patience,
    }
}

/// The requests a login check sends (`login::check`): the registry's and other hosts' stacks
/// without the auth layer, since the check answers the challenges itself.
pub(super) fn unauthenticated(
    cfg: &SessionConfig,
    base: &Url,
    http: reqwest::Client,
) -> Result<AuthContext> {
    let http_other = cfg.clients.for_other_hosts(base, &cfg.connection())?;
    let others = Arc::new(Stack::new(bottom(cfg), Wire::new(http_other, cfg.patience)));
    Ok(auth_context(cfg, base, &http, others))
}

/// The stacks for the registry at `base`, whose client is `http`.
pub(super) fn compose(cfg: &SessionConfig, base: &Url, http: reqwest::Client) -> Result<Stacks> {
    let http_other = cfg.clients.for_other_hosts(base, &cfg.connection())?;
    let others = Arc::new(Stack::new(
        bottom(cfg),
        Wire::new(http_other.clone(), cfg.patience),
    ));
    let scopes = match cfg.scopes.is_empty() {
        true => vec![Scope::pull(&cfg.name.repository)],
        false => cfg.scopes.clone(),
    };
    let auth = Auth::with_scopes(
        cfg.authenticator,
        auth_context(cfg, base, &http, others.clone()),
        cfg.tokens.clone(),
        scopes,
    )
    .login_host(cfg.login_host.clone());
    let mut registry: Vec<Arc<dyn Layer>> = vec![
        Arc::new(Redirects::new(base.clone(), cfg.insecure, Some(others))),
        Arc::new(auth),
        Arc::new(Retry::new(cfg.retry).telling(cfg.notices.clone())),
    ];
    // Under the retries, so that an answer the adapter calls final stops them.
    if let Some(quirks) = cfg.quirks {
        registry.push(Arc::new(Quirks::new(quirks, cfg.notices.clone())));
    }
    registry.extend(traced(cfg));
    let mut foreign: Vec<Arc<dyn Layer>> =
        vec![Arc::new(Redirects::new(base.clone(), cfg.insecure, None))];
    foreign.extend(bottom(cfg));
    Ok(Stacks {
        registry: Stack::new(registry, Wire::new(http, cfg.patience)),
        foreign: Stack::new(foreign, Wire::new(http_other, cfg.patience)),
    })
}

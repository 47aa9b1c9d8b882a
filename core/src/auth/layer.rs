//! The auth layer: the registry's credential on every request to its origin, and the answer to
//! its 401 challenges.
//!
//! Tokens are cached per registry and scope set for the whole run ([`TokenCache`]), so
//! parallel requests and later images share them. A 401 is answered once per request: the
//! [`Authenticator`] gets a credential, and the request is sent again. When parallel requests
//! all meet the 401 of an expired token, one of them asks the token service and the others
//! wait for its answer (single flight). A challenge naming a scope the session has not asked
//! for (`insufficient_scope`, as when pushing mounts a blob from another repository) widens the
//! session's scopes for the next token: re-scoping. Requests to any other origin pass through
//! untouched: credentials are for the registry they were given for.
//!
//! A 401 that carries no challenge (GCR, Artifact Registry) is answered as Docker does: the
//! layer asks `/v2/` for the registry's challenge, once per session, through the layers below
//! it, and answers that one; later challenge-less 401s reuse what `/v2/` said.
//!
//! The layer is also where it is known whether a refused request carried a login, and where
//! that login came from: it stamps refusals (401, and 404s that may be a private repository)
//! with those facts, and the error they become ends with the matching hint (see
//! [`crate::hints`]): how to log in, a refused password, or a repository that may not exist.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use crate::auth::challenge::{parse_all, Challenge};
use crate::auth::{AuthContext, Authenticator, Credential, Scope};
use crate::error::{Error, Result};
use crate::hints::{self, Access, Login, Sent};
use crate::http::policy::same_origin;
use crate::http::{Layer, Next, Request, Response};

/// Tokens shared by every session of one run, keyed by registry and scopes.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<(String, String), Credential>>,
}

impl TokenCache {
    fn get(&self, key: &(String, String)) -> Option<Credential> {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).filter(|c| c.is_fresh()).cloned()
    }

    fn put(&self, key: (String, String), c: Credential) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(key, c);
    }

    fn forget(&self, key: &(String, String), stale: &str) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(key).is_some_and(|c| c.header == stale) {
            map.remove(key);
        }
    }
}

/// The most scopes one session asks for, and the longest scope a registry may name: a
/// challenge is the registry's word and must not grow our token requests without bound.
const MAX_SCOPES: usize = 8;
const MAX_SCOPE_LEN: usize = 1024;

/// The auth layer for one registry session.
pub struct Auth {
    authenticator: &'static dyn Authenticator,
    ctx: AuthContext,
    tokens: Arc<TokenCache>,
    scopes: Mutex<Vec<Scope>>,
    /// Serializes challenge answers, so parallel requests that all meet a 401 ask once.
    answering: tokio::sync::Mutex<()>,
    /// The host a login for this registry is made for, as messages name it.
    login_host: String,
    /// What `/v2/` challenged with, once asked (see [`Auth::challenges`]).
    pinged: tokio::sync::Mutex<Option<Vec<Challenge>>>,
}

impl Auth {
    /// Credentials for `ctx.registry`, from `authenticator`, starting with `scope`.
    #[cfg(test)]
    pub fn new(
        authenticator: &'static dyn Authenticator,
        ctx: AuthContext,
        tokens: Arc<TokenCache>,
        scope: Scope,
    ) -> Auth {
        Auth::with_scopes(authenticator, ctx, tokens, vec![scope])
    }

    /// Credentials for `ctx.registry`, starting with every scope of `scopes` (an upload's
    /// `pull,push` on its repository and `pull` on the repository it mounts from), so the
    /// first token already covers them.
    pub fn with_scopes(
        authenticator: &'static dyn Authenticator,
        ctx: AuthContext,
        tokens: Arc<TokenCache>,
        scopes: Vec<Scope>,
    ) -> Auth {
        Auth {
            authenticator,
            tokens,
            login_host: ctx.registry.host_str().unwrap_or_default().to_string(),
            scopes: Mutex::new(scopes),
            answering: tokio::sync::Mutex::new(()),
            pinged: tokio::sync::Mutex::new(None),
            ctx,
        }
    }

    /// The same layer, naming `host` as the one to log in to (`docker.io` rather than the
    /// `registry-1.docker.io` contacted): the auth files' key for this registry.
    pub fn login_host(mut self, host: String) -> Auth {
        self.login_host = host;
        self
    }

    /// The facts of a request that carried `sent`.
    fn access(&self, sent: Option<&Credential>) -> Access {
        Access {
            login_host: crate::terminal_text::shown(&self.login_host),
            login: self.ctx.credentials.as_ref().map(|c| Login {
                user: crate::terminal_text::shown(&c.username),
                from: c
                    .source
                    .clone()
                    .unwrap_or_else(|| "the configuration".into()),
            }),
            sent: match sent {
                None => Sent::Nothing,
                Some(c) if c.header.starts_with("Basic ") => Sent::Basic,
                Some(_) => Sent::Token,
            },
            how: self
                .authenticator
                .how_to_log_in(&self.login_host)
                .map(|how| crate::terminal_text::shown(&how)),
            pushing: self.scopes().iter().any(Scope::allows_push),
        }
    }

    /// `resp`, stamped with what the request carried when the registry refused it.
    fn stamped(&self, mut resp: Response, sent: Option<&Credential>) -> Response {
        if matches!(resp.status().as_u16(), 401 | 404) {
            resp.access = Some(Arc::new(self.access(sent)));
        }
        resp
    }

    fn scopes(&self) -> Vec<Scope> {
        self.scopes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn key(&self) -> (String, String) {
        let joined = self
            .scopes()
            .iter()
            .map(|s| s.0.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        (self.ctx.registry.to_string(), joined)
    }

    /// Adds the scopes a Bearer challenge names that we lack. True if any was added.
    fn widen(&self, challenges: &[Challenge]) -> bool {
        let named = challenges
            .iter()
            .filter(|c| c.is_bearer())
            .filter_map(|c| c.param("scope"))
            .flat_map(|s| s.split(' '))
            .filter(|s| !s.is_empty() && s.len() <= MAX_SCOPE_LEN);
        let mut scopes = self.scopes.lock().unwrap_or_else(|e| e.into_inner());
        let mut added = false;
        for s in named {
            if scopes.len() < MAX_SCOPES && !scopes.iter().any(|have| have.0 == s) {
                scopes.push(Scope(s.to_string()));
                added = true;
            }
        }
        added
    }

    /// The challenges of a 401; when it carries none, those of `/v2/`, asked once per session
    /// (without a credential, through `next`) and remembered.
    async fn challenges(&self, resp: &Response, next: Next<'_>) -> Result<Vec<Challenge>> {
        let carried = parse_all(
            resp.headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        if !carried.is_empty() {
            return Ok(carried);
        }
        let mut pinged = self.pinged.lock().await;
        if let Some(known) = &*pinged {
            return Ok(known.clone());
        }
        let url = self
            .ctx
            .registry
            .join("v2/")
            .map_err(|e| Error::Usage(format!("bad registry URL: {e}")))?;
        let ping = next
            .run(Request::new(
                Method::GET,
                url,
                "the registry's challenge (GET /v2/)",
            ))
            .await?;
        let found = if ping.status() == StatusCode::UNAUTHORIZED {
            parse_all(
                ping.headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            )
        } else {
            Vec::new()
        };
        drop(ping);
        *pinged = Some(found.clone());
        Ok(found)
    }

    /// Gets a credential for a 401 that challenged with `challenges`. False if there is
    /// nothing to answer with.
    async fn answer(&self, challenges: Vec<Challenge>, stale: Option<&Credential>) -> Result<bool> {
        if challenges.is_empty() {
            return Ok(false);
        }
        let _turn = self.answering.lock().await;
        let widened = self.widen(&challenges);
        let key = self.key();
        if let Some(stale) = stale {
            self.tokens.forget(&key, &stale.header);
        }
        // Another request may have renewed it while this one waited its turn.
        if !widened {
            if let Some(fresh) = self.tokens.get(&key) {
                if stale.is_none_or(|s| s.header != fresh.header) {
                    return Ok(true);
                }
            }
        }
        let scopes = self.scopes();
        match self
            .authenticator
            .authenticate(&self.ctx, &challenges, &scopes)
            .await?
        {
            Some(c) => {
                self.tokens.put(key, c);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn with_credential(&self, mut req: Request) -> (Request, Option<Credential>) {
        let cred = self.tokens.get(&self.key());
        if let Some(value) = cred
            .as_ref()
            .and_then(|c| HeaderValue::from_str(&c.header).ok())
        {
            req.headers.insert(AUTHORIZATION, value);
        }
        (req, cred)
    }
}

#[async_trait]
impl Layer for Auth {
    async fn send(&self, req: Request, next: Next<'_>) -> Result<Response> {
        if !same_origin(&req.url, &self.ctx.registry) {
            return next.run(req).await;
        }
        let (first, cred) = self.with_credential(req.clone());
        let resp = next.run(first).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(self.stamped(resp, cred.as_ref()));
        }
        let challenges = self.challenges(&resp, next).await?;
        match self.answer(challenges, cred.as_ref()).await {
            Ok(true) => {}
            Ok(false) => return Ok(self.stamped(resp, cred.as_ref())),
            // The token service refused: the login, or anonymous access.
            Err(Error::Registry(mut e)) if matches!(e.status, 401 | 403) => {
                e.hint = Some(hints::token_refused(&self.access(None)));
                return Err(Error::Registry(e));
            }
            Err(e) => return Err(e),
        }
        drop(resp);
        let (again, cred) = self.with_credential(req);
        let resp = next.run(again).await?;
        Ok(self.stamped(resp, cred.as_ref()))
    }
}

#[cfg(test)]
mod tests;

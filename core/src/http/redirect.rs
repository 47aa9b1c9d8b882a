//! Following redirects by hand, one hop at a time, so each hop can be judged.
//!
//! The HTTP client follows none itself. Here, a hop to the registry's own origin goes back
//! through the rest of the registry's stack (its credentials, its client certificate); a hop
//! anywhere else goes through the stack for other hosts, which has neither, and must pass
//! `check_other_host`: no plain HTTP to remote hosts, no way from a remote registry to this
//! machine's loopback services. Signed CDN URLs expire: a CDN that refuses one (401 or 403) is
//! not asked again with it; the registry is asked once more for a fresh one.
//!
//! Only GET and HEAD are followed: a redirected upload is the caller's to decide.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use url::Url;

use crate::error::{Error, Result};
use crate::http::policy::{check_other_host, check_url, same_origin};
use crate::http::{Layer, Next, RedactedUrl, Request, Response, Stack};

/// The most hops one request may take.
pub const MAX_REDIRECTS: usize = 10;

/// The redirect layer for requests to one registry.
pub struct Redirects {
    /// The registry's origin: the only one whose hops go through the rest of this stack.
    registry: Url,
    insecure: bool,
    /// Where hops to other hosts go; None sends every hop through the rest of this stack
    /// (the stack for other hosts itself, which carries no credentials).
    others: Option<Arc<Stack>>,
}

impl Redirects {
    /// Redirects for requests to the registry at `registry`; hops elsewhere go to `others`.
    pub fn new(registry: Url, insecure: bool, others: Option<Arc<Stack>>) -> Redirects {
        Redirects {
            registry,
            insecure,
            others,
        }
    }

    fn refuse(what: &str, reason: String) -> Error {
        Error::Redirect {
            what: what.to_string(),
            reason,
        }
    }

    async fn hop(&self, req: Request, next: Next<'_>) -> Result<Response> {
        let home = same_origin(&req.url, &self.registry);
        if home {
            check_url(&req.url, self.insecure)?;
        } else {
            check_other_host(&self.registry, &req.url, self.insecure)?;
        }
        match &self.others {
            Some(others) if !home => others.send(req).await,
            _ => next.run(req).await,
        }
    }
}

#[async_trait]
impl Layer for Redirects {
    async fn send(&self, req: Request, next: Next<'_>) -> Result<Response> {
        if req.method != Method::GET && req.method != Method::HEAD {
            return next.run(req).await;
        }
        let first = req.clone();
        let mut url = req.url.clone();
        let mut resp = next.run(req).await?;
        let mut asked_again = false;
        for _ in 0..MAX_REDIRECTS {
            let status = resp.status();
            let away = !same_origin(&url, &self.registry);
            if away
                && matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                && same_origin(&first.url, &self.registry)
                && !asked_again
            {
                // Most likely an expired signature: the registry signs a new one.
                asked_again = true;
                url = first.url.clone();
                resp = next.run(first.clone()).await?;
                continue;
            }
            if !status.is_redirection() {
                return Ok(resp);
            }
            let to = match resp.location() {
                None => {
                    return Err(Self::refuse(
                        &first.what,
                        format!("{} answered {status} without a Location", resp.url),
                    ))
                }
                Some(Err(e)) => {
                    return Err(Self::refuse(
                        &first.what,
                        format!("{} redirected to an invalid URL: {e}", resp.url),
                    ))
                }
                Some(Ok(to)) => to,
            };
            drop(resp);
            let mut hop = first.clone();
            hop.url = to.clone();
            if status == StatusCode::SEE_OTHER {
                hop.method = Method::GET;
            }
            resp = self.hop(hop, next).await?;
            url = to;
        }
        Err(Self::refuse(
            &first.what,
            format!(
                "more than {MAX_REDIRECTS} redirects (the last to {})",
                RedactedUrl::new(&url)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::scripted::{self, Reply, Scripted};

    /// The layer over a plain stack for the registry, and another for other hosts.
    fn layer(registry: &Scripted) -> Stack {
        let others = Arc::new(scripted::stack(vec![]));
        let r = Redirects::new(registry.url("/"), false, Some(others));
        scripted::stack(vec![Arc::new(r)])
    }

    #[tokio::test]
    async fn a_hop_to_another_host_goes_to_the_other_stack_with_the_same_range() {
        let cdn = Scripted::start(vec![Reply::status(200).body("blob")]).await;
        let registry = Scripted::start(vec![
            Reply::status(307).header("location", cdn.url("/signed?sig=1").as_str())
        ])
        .await;
        let mut req = registry.get("/v2/a/blobs/x");
        req.headers.insert("range", "bytes=5-".parse().unwrap());
        let resp = layer(&registry).send(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let seen = cdn.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].target, "/signed?sig=1");
        assert_eq!(seen[0].header("authorization"), None);
        assert_eq!(seen[0].header("range"), Some("bytes=5-"));
    }

    #[tokio::test]
    async fn a_cdn_refusing_an_expired_signature_gets_a_fresh_url_from_the_registry_once() {
        let cdn = Scripted::start(vec![
            Reply::status(403).body("Request has expired"),
            Reply::status(200).body("blob"),
        ])
        .await;
        let registry = Scripted::start(vec![
            Reply::status(307).header("location", cdn.url("/signed?sig=old").as_str()),
            Reply::status(307).header("location", cdn.url("/signed?sig=new").as_str()),
        ])
        .await;
        let resp = layer(&registry)
            .send(registry.get("/v2/a/blobs/x"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let asked: Vec<String> = cdn.seen().into_iter().map(|s| s.target).collect();
        assert_eq!(asked, ["/signed?sig=old", "/signed?sig=new"]);
        assert_eq!(registry.seen().len(), 2);
    }

    #[tokio::test]
    async fn a_cdn_that_keeps_refusing_is_asked_twice_at_most() {
        let cdn = Scripted::start(vec![Reply::status(403), Reply::status(403)]).await;
        let to = cdn.url("/signed");
        let registry = Scripted::start(vec![
            Reply::status(307).header("location", to.as_str()),
            Reply::status(307).header("location", to.as_str()),
        ])
        .await;
        let resp = layer(&registry)
            .send(registry.get("/v2/a/blobs/x"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        assert_eq!(cdn.seen().len(), 2);
    }

    #[tokio::test]
    async fn a_remote_registry_may_not_redirect_to_loopback() {
        let admin = Scripted::start(vec![Reply::status(200)]).await;
        // The first server stands for a remote registry's CDN: drag was sent there already.
        let first = Scripted::start(vec![
            Reply::status(307).header("location", admin.url("/admin").as_str())
        ])
        .await;
        let remote = Url::parse("https://registry.example/").unwrap();
        let stack = scripted::stack(vec![Arc::new(Redirects::new(remote, false, None))]);
        let e = stack.send(first.get("/blob")).await.unwrap_err();
        assert!(matches!(e, Error::Refused { .. }), "{e}");
        assert!(admin.seen().is_empty());
    }

    #[tokio::test]
    async fn redirect_loops_end_with_a_redirect_error() {
        let registry = Scripted::start(
            (0..=MAX_REDIRECTS)
                .map(|_| Reply::status(302).header("location", "/v2/a/blobs/x"))
                .collect(),
        )
        .await;
        let e = layer(&registry)
            .send(registry.get("/v2/a/blobs/x"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Redirect { .. }), "{e}");
        assert!(e.to_string().contains("more than 10 redirects"), "{e}");
        assert_eq!(registry.seen().len(), MAX_REDIRECTS + 1);
    }

    #[tokio::test]
    async fn a_redirect_without_location_is_a_redirect_error() {
        let registry = Scripted::start(vec![Reply::status(302)]).await;
        let e = layer(&registry)
            .send(registry.get("/v2/a/blobs/x"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Redirect { .. }), "{e}");
        assert!(e.to_string().contains("without a Location"), "{e}");
    }
}

//! What an adapter makes of its registry's answers, beyond what their statuses say.
//!
//! Some registries say more in headers and error bodies than a status carries: Docker Hub
//! counts pulls in `ratelimit-*` headers, and answers a spent pull limit with the same 429 as a
//! per-second limit, though only one of the two is worth waiting for. Core knows no registry,
//! so the adapter reads its own answers through [`ResponseQuirks`], and the `Quirks` layer
//! acts on its [`Verdict`]: it passes notices to the run's [`Notices`] sink, and turns an
//! answer the adapter calls final into an error that carries the adapter's hint and is not
//! retried.
//!
//! The layer sits under the retry layer, so it judges every attempt and a final answer stops
//! the retries at once; and over the trace, so `-v` shows the answer as it came.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::error::{Error, RegistryError, Result};
use crate::http::notice::Notices;
use crate::http::send::error_body;
use crate::http::{Layer, Next, Request, Response};

/// An adapter's reading of its registry's answers. Every method has a default that reads
/// nothing into them.
pub trait ResponseQuirks: Send + Sync {
    /// Looks at an answer's status and headers (every answer from the registry itself, not
    /// from a CDN it redirects to, nor from a token service).
    fn inspect_response(&self, _status: StatusCode, _headers: &HeaderMap) -> Verdict {
        Verdict::default()
    }

    /// Looks at an error answer whose body the verdict asked to see ([`Answer::ReadError`]):
    /// the registry's diagnostics and the answer's headers. Some hint makes the answer final
    /// (not retried), with that hint; None leaves it to its status.
    fn inspect_error(&self, _error: &RegistryError, _headers: &HeaderMap) -> Option<String> {
        None
    }
}

/// What an adapter makes of one answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Something the user should know (few pulls left), said once per session.
    pub notice: Option<String>,
    /// What the answer means.
    pub answer: Answer,
}

/// What an answer means, beyond its status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Answer {
    /// What its status says: retried when the status is retryable.
    #[default]
    AsItsStatusSays,
    /// Final whatever its status: asking again cannot help, and this hint says what can.
    Final(String),
    /// Undecided until the error body is read: [`ResponseQuirks::inspect_error`] decides.
    ReadError,
}

/// The layer that asks the adapter about each answer.
pub(crate) struct Quirks {
    quirks: &'static dyn ResponseQuirks,
    notices: Option<Arc<dyn Notices>>,
    /// One notice per session: a multi-platform pull makes many requests, each with the
    /// same news.
    noticed: AtomicBool,
}

impl Quirks {
    /// A layer asking `quirks`, telling notices to `notices`.
    pub(crate) fn new(
        quirks: &'static dyn ResponseQuirks,
        notices: Option<Arc<dyn Notices>>,
    ) -> Quirks {
        Quirks {
            quirks,
            notices,
            noticed: AtomicBool::new(false),
        }
    }

    fn notice(&self, text: &str) {
        if let Some(sink) = &self.notices {
            if !self.noticed.swap(true, Ordering::Relaxed) {
                sink.warning(text);
            }
        }
    }
}

#[async_trait]
impl Layer for Quirks {
    async fn send(&self, req: Request, next: Next<'_>) -> Result<Response> {
        let resp = next.run(req.clone()).await?;
        let verdict = self.quirks.inspect_response(resp.status(), resp.headers());
        if let Some(text) = &verdict.notice {
            self.notice(text);
        }
        match verdict.answer {
            Answer::AsItsStatusSays => Ok(resp),
            Answer::Final(hint) => Err(final_error(resp.into_error(&req.what).await, hint)),
            Answer::ReadError => {
                let (e, resp) = read_error(&req.what, resp).await;
                match self.quirks.inspect_error(&e, resp.headers()) {
                    Some(hint) => Err(final_error(Error::from(e), hint)),
                    None => Ok(resp),
                }
            }
        }
    }
}

/// The error an answer the adapter calls final makes: its own, with the adapter's hint.
fn final_error(e: Error, hint: String) -> Error {
    match e {
        Error::Registry(mut r) => {
            r.hint = Some(hint);
            r.final_answer = true;
            Error::Registry(r)
        }
        other => other,
    }
}

/// Reads an error answer's body (bounded, as for any error message), and gives back its error
/// and the same answer rebuilt around the bytes read, for the retry layer to judge.
async fn read_error(what: &str, resp: Response) -> (RegistryError, Response) {
    let status = resp.status();
    let headers = resp.headers().clone();
    let answered = resp.answered.clone();
    let (url, attempts) = (resp.url.clone(), resp.attempts);
    let body = error_body(resp).await;
    let mut e = RegistryError::from_body(what, status.as_u16(), &body);
    e.retry_after = super::retry::retry_after(&headers);
    e.url = Some(url);
    e.attempts = attempts;
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.headers_mut() = headers;
    let mut resp = Response::new(reqwest::Response::from(rebuilt), &answered);
    resp.attempts = attempts;
    (e, resp)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::http::retry::{Retry, RetryPolicy};
    use crate::http::scripted::{self, Reply, Scripted};
    use crate::http::Stack;

    /// Reads `x-left` as pulls left: none left is final, a body saying "spent" is final,
    /// under 3 is a notice.
    struct Counted;

    impl ResponseQuirks for Counted {
        fn inspect_response(&self, status: StatusCode, headers: &HeaderMap) -> Verdict {
            let left: Option<u32> = headers
                .get("x-left")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            Verdict {
                notice: left.filter(|n| *n < 3).map(|n| format!("{n} left")),
                answer: match (status.as_u16(), left) {
                    (429, Some(0)) => Answer::Final("wait for tomorrow".into()),
                    (429, None) => Answer::ReadError,
                    _ => Answer::AsItsStatusSays,
                },
            }
        }

        fn inspect_error(&self, error: &RegistryError, _: &HeaderMap) -> Option<String> {
            error
                .diagnostics
                .iter()
                .any(|d| d.message.as_deref() == Some("spent"))
                .then(|| "read the body".to_string())
        }
    }

    #[derive(Default)]
    struct Said(Mutex<Vec<String>>);

    impl Notices for Said {
        fn notice(&self, text: &str) {
            self.0.lock().unwrap().push(text.to_string());
        }
    }

    fn stack(said: &Arc<Said>) -> Stack {
        let policy = RetryPolicy {
            retries: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        };
        scripted::stack(vec![
            Arc::new(Retry::new(policy)),
            Arc::new(Quirks::new(
                &Counted,
                Some(said.clone() as Arc<dyn Notices>),
            )),
        ])
    }

    const SPENT: &str = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"spent"}]}"#;
    const BUSY: &str = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#;

    #[tokio::test]
    async fn a_final_answer_is_not_retried_and_carries_the_adapters_hint() {
        let server = Scripted::start(vec![
            Reply::status(429).header("x-left", "0").body(BUSY),
            Reply::status(200),
        ])
        .await;
        let said = Arc::new(Said::default());
        let e = stack(&said).send(server.get("/m")).await.unwrap_err();
        assert_eq!(server.seen().len(), 1);
        let shown = e.to_string();
        assert!(
            shown.contains("TOOMANYREQUESTS: slow down (HTTP 429"),
            "{shown}"
        );
        assert!(shown.ends_with("): wait for tomorrow"), "{shown}");
        assert_eq!(said.0.lock().unwrap().as_slice(), ["0 left"]);
    }

    #[tokio::test]
    async fn an_error_body_can_make_an_answer_final() {
        let server =
            Scripted::start(vec![Reply::status(429).body(SPENT), Reply::status(200)]).await;
        let e = stack(&Arc::default())
            .send(server.get("/m"))
            .await
            .unwrap_err();
        assert_eq!(server.seen().len(), 1);
        assert!(e.to_string().ends_with(": read the body"), "{e}");
    }

    #[tokio::test]
    async fn an_error_body_read_and_found_ordinary_is_still_retried_and_still_readable() {
        let server = Scripted::start(vec![Reply::status(429).body(BUSY); 4]).await;
        let resp = stack(&Arc::default()).send(server.get("/m")).await.unwrap();
        assert_eq!(server.seen().len(), 4, "retried as its status says");
        assert_eq!(resp.status(), 429);
        let e = resp.into_error("manifest a:1").await;
        assert!(
            e.to_string()
                .starts_with("manifest a:1: TOOMANYREQUESTS: slow down (HTTP 429 from http://"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_notice_is_said_once_per_session() {
        let server = Scripted::start(vec![
            Reply::status(200).header("x-left", "2"),
            Reply::status(200).header("x-left", "1"),
            Reply::status(200).header("x-left", "9"),
        ])
        .await;
        let said = Arc::new(Said::default());
        let stack = stack(&said);
        for _ in 0..3 {
            assert_eq!(stack.send(server.get("/m")).await.unwrap().status(), 200);
        }
        assert_eq!(said.0.lock().unwrap().as_slice(), ["2 left"]);
    }
}

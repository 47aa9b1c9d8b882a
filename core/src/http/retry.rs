//! When to send a request again, written once: for manifests, blobs, tokens, uploads, and the
//! resumption of a blob whose body broke off.
//!
//! [`RetryPolicy`] says how many more attempts and how long between them (exponential backoff
//! with jitter, or what the server asked for with `Retry-After`). [`Backoff`] spends one
//! request's budget and counts what it took, so the error that ends it can say so. [`Retry`]
//! is the layer that uses them for whole requests; the blob fetcher uses a [`Backoff`] of its
//! own for resuming a body with `Range`.
//!
//! Every retry the layer makes is told to the [notices](super::notice) sink, with its wait and
//! its reason (`retrying in 1.2 s (2/5): connection refused (registry.example)`): a pull that
//! waits must say why. With the default policy a refused or reset connection is given up after
//! six attempts and about 8 s of waiting (0.25 + 0.5 + 1 + 2 + 4 s, each ±25 %).
//!
//! A connection attempt that times out costs a whole connect timeout (10 s, see
//! `crate::transport`): none is retried after [`RetryPolicy::connect_window`] (15 s), so a
//! host that drops our packets is given up on after two attempts, in about 20 s.
//!
//! A host name that does not resolve is retried once only, quickly ([`UNRESOLVED_WAIT`]): a
//! resolver's hiccup deserves a second chance, but a name that is wrong, or a machine that is
//! offline, does not get better in the next 8 s, and the user should hear so at once.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::http::no_answer::{no_answer, NoAnswer};
use crate::http::notice::Notices;
use crate::http::{Attempts, Layer, Next, Request, Response};

/// How often and how patiently to retry transient failures.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts after the first (`--retries`).
    pub retries: u32,
    /// The wait before the first retry; each further one doubles it.
    pub base_delay: Duration,
    /// The longest wait between attempts, unless the server asks for longer.
    pub max_delay: Duration,
    /// No retry of a connection attempt that timed out starts once this long has passed
    /// since the first attempt. Each such attempt costs a whole connect timeout, so without
    /// this a host that drops our packets would hold a pull for minutes; with it, the user
    /// hears within about this long plus one connect timeout.
    pub connect_window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
            connect_window: Duration::from_secs(15),
        }
    }
}

/// The longest `Retry-After` honoured: a server asking for more gets this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

impl RetryPolicy {
    /// The wait before retry number `retry` (from 0): exponential backoff with jitter, or
    /// what the server asked for.
    pub fn delay(&self, retry: u32, retry_after: Option<u64>) -> Duration {
        if let Some(secs) = retry_after {
            return Duration::from_secs(secs).min(MAX_RETRY_AFTER);
        }
        let exp = self.base_delay.saturating_mul(1 << retry.min(16));
        let capped = exp.min(self.max_delay);
        // Jitter spreads parallel downloads that failed together.
        let jitter = rand::random::<f64>() * 0.5 + 0.75;
        capped.mul_f64(jitter)
    }
}

/// The HTTP statuses worth asking again for: timeouts, rate limits and server trouble.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds (the HTTP-date form is rare from registries; treat it as absent).
pub fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The one wait before retrying a host name that did not resolve.
pub const UNRESOLVED_WAIT: Duration = Duration::from_millis(500);

/// Whether, and how often, a failure is worth sending the same request again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Again {
    /// Not at all: it would fail the same way.
    Never,
    /// Once, quickly: a host name that did not resolve.
    Once,
    /// Within the policy's budget.
    Budget,
}

fn again(e: &Error) -> Again {
    let transient = match e {
        Error::Http { source, .. } => match no_answer(source) {
            // A handshake that failed once fails again.
            NoAnswer::Tls(_) => false,
            NoAnswer::Unresolved => return Again::Once,
            _ => {
                source.is_timeout()
                    || source.is_connect()
                    || source.is_request()
                    || source.is_body()
            }
        },
        Error::Registry(e) => is_retryable_status(e.status) && !e.final_answer,
        Error::Stalled { .. } => true,
        Error::Io { source, .. } => matches!(
            source.kind(),
            io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::TimedOut
        ),
        _ => false,
    };
    if transient {
        Again::Budget
    } else {
        Again::Never
    }
}

/// True for a connection attempt that timed out (a host that drops our packets).
fn connect_timed_out(e: &Error) -> bool {
    matches!(e, Error::Http { source, .. }
        if source.is_connect() && no_answer(source) == NoAnswer::TimedOut)
}

/// The few words a notice gives for a failure.
fn reason(e: &Error) -> String {
    match e {
        Error::Http { source, .. } => no_answer(source).words().to_string(),
        Error::Stalled { reason, .. } => reason.clone(),
        Error::Registry(e) => format!("HTTP {}", e.status),
        other => other.to_string(),
    }
}

/// One request's retry budget, spent attempt by attempt.
pub struct Backoff {
    policy: RetryPolicy,
    retries: u32,
    started: Instant,
}

impl Backoff {
    /// A fresh budget; its clock starts now.
    pub fn new(policy: RetryPolicy) -> Backoff {
        Backoff {
            policy,
            retries: 0,
            started: Instant::now(),
        }
    }

    /// The retries the policy allows.
    pub fn budget(&self) -> u32 {
        self.policy.retries
    }

    /// Spends one retry and says how long to wait before it, or None when the budget is
    /// spent.
    pub fn next_delay(&mut self, retry_after: Option<u64>) -> Option<Duration> {
        if self.retries >= self.policy.retries {
            return None;
        }
        let wait = self.policy.delay(self.retries, retry_after);
        self.retries += 1;
        Some(wait)
    }

    /// What has been spent so far: attempts made and the time since the first.
    pub fn attempts(&self) -> Attempts {
        Attempts {
            count: self.retries + 1,
            elapsed: self.started.elapsed(),
        }
    }
}

/// The retry layer: sends again after a transient failure or a retryable status, within the
/// policy's budget, tells each retry to the notices sink, and stamps the answer (or the error)
/// with the attempts it took.
pub struct Retry {
    policy: RetryPolicy,
    notices: Option<Arc<dyn Notices>>,
}

impl Retry {
    /// A layer retrying as `policy` says, silently.
    pub fn new(policy: RetryPolicy) -> Retry {
        Retry {
            policy,
            notices: None,
        }
    }

    /// The same layer, telling each retry to `notices`.
    pub fn telling(mut self, notices: Option<Arc<dyn Notices>>) -> Retry {
        self.notices = notices;
        self
    }

    /// `retrying in 1.2 s (2/5): connection refused (registry.example)`.
    fn tell(&self, req: &Request, wait: Duration, retry: u32, of: u32, why: &str) {
        let Some(notices) = &self.notices else {
            return;
        };
        let host = match (req.url.host_str(), req.url.port()) {
            (Some(h), Some(p)) => format!(" ({h}:{p})"),
            (Some(h), None) => format!(" ({h})"),
            _ => String::new(),
        };
        notices.notice(&format!(
            "retrying in {:.1} s ({retry}/{of}): {why}{host}",
            wait.as_secs_f64()
        ));
    }
}

#[async_trait]
impl Layer for Retry {
    async fn send(&self, req: Request, next: Next<'_>) -> Result<Response> {
        let mut backoff = Backoff::new(self.policy);
        let mut retried_unresolved = false;
        loop {
            match next.run(req.clone()).await {
                Ok(mut resp) if is_retryable_status(resp.status().as_u16()) => {
                    match backoff.next_delay(retry_after(resp.headers())) {
                        Some(wait) => {
                            let why = format!("HTTP {}", resp.status());
                            drop(resp);
                            self.tell(&req, wait, backoff.retries, backoff.budget(), &why);
                            tokio::time::sleep(wait).await;
                        }
                        // The last answer is the answer: the caller reads its error body.
                        None => {
                            resp.attempts = backoff.attempts();
                            return Ok(resp);
                        }
                    }
                }
                Ok(mut resp) => {
                    resp.attempts = backoff.attempts();
                    return Ok(resp);
                }
                Err(e) => {
                    let (wait, of) = match again(&e) {
                        Again::Budget
                            if connect_timed_out(&e)
                                && backoff.started.elapsed() >= self.policy.connect_window =>
                        {
                            (None, 0)
                        }
                        Again::Budget => (backoff.next_delay(None), backoff.budget()),
                        Again::Once if !retried_unresolved => {
                            retried_unresolved = true;
                            let wait = backoff.next_delay(None).map(|w| w.min(UNRESOLVED_WAIT));
                            (wait, 1)
                        }
                        Again::Once | Again::Never => (None, 0),
                    };
                    let Some(wait) = wait else {
                        return Err(e.after(backoff.attempts()));
                    };
                    let retry = if of == 1 { 1 } else { backoff.retries };
                    self.tell(&req, wait, retry, of, &reason(&e));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use bytes::Bytes;
    use reqwest::Method;

    use super::*;
    use crate::http::scripted::{self, Reply, Scripted};
    use crate::http::{Body, Stack};

    fn fast(retries: u32) -> RetryPolicy {
        RetryPolicy {
            retries,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        }
    }

    fn retrying(retries: u32) -> Stack {
        scripted::stack(vec![Arc::new(Retry::new(fast(retries)))])
    }

    #[derive(Default)]
    struct Told(std::sync::Mutex<Vec<String>>);

    impl Notices for Told {
        fn notice(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
    }

    impl Told {
        fn lines(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    fn telling(policy: RetryPolicy) -> (Stack, Arc<Told>) {
        let told = Arc::new(Told::default());
        let layer = Retry::new(policy).telling(Some(told.clone() as Arc<dyn Notices>));
        (scripted::stack(vec![Arc::new(layer)]), told)
    }

    /// A loopback URL where nothing listens (a port that was free a moment ago).
    fn refusing_url() -> url::Url {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        url::Url::parse(&format!("http://127.0.0.1:{port}/v2/")).unwrap()
    }

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let p = RetryPolicy::default();
        assert!(p.delay(0, None) < p.delay(4, None));
        assert_eq!(p.delay(0, Some(3)), Duration::from_secs(3));
        assert_eq!(p.delay(0, Some(100_000)), MAX_RETRY_AFTER);
        assert!(p.delay(30, None) <= p.max_delay.mul_f64(1.25));
    }

    #[test]
    fn a_backoff_spends_exactly_its_budget() {
        let mut b = Backoff::new(fast(2));
        assert!(b.next_delay(None).is_some());
        assert_eq!(b.next_delay(Some(7)), Some(Duration::from_secs(7)));
        assert_eq!(b.next_delay(None), None);
        assert_eq!(b.attempts().count, 3);
    }

    #[test]
    fn the_retryable_statuses_are_timeouts_rate_limits_and_server_trouble() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 206, 301, 400, 401, 403, 404, 416, 501] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[tokio::test]
    async fn retryable_statuses_are_asked_again_until_one_succeeds() {
        let server = Scripted::start(vec![
            Reply::status(503),
            Reply::status(502),
            Reply::status(200),
        ])
        .await;
        let resp = retrying(5).send(server.get("/m")).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.attempts.count, 3);
        assert_eq!(server.seen().len(), 3);
    }

    #[tokio::test]
    async fn the_last_retryable_answer_is_returned_and_its_error_tells_the_attempts() {
        let doc = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#;
        let server = Scripted::start(vec![Reply::status(429).body(doc); 3]).await;
        let resp = retrying(2).send(server.get("/m")).await.unwrap();
        assert_eq!(resp.status(), 429);
        assert_eq!(server.seen().len(), 3);
        let e = resp.into_error("manifest a:1").await;
        let shown = e.to_string();
        assert!(
            shown.starts_with(
                "manifest a:1: TOOMANYREQUESTS: slow down (HTTP 429 from http://127.0.0.1:"
            ),
            "{shown}"
        );
        assert!(shown.contains("/m after 3 attempts in "), "{shown}");
        assert_eq!(e.registry_code(), Some("TOOMANYREQUESTS"));
    }

    #[tokio::test]
    async fn other_statuses_are_answers_not_retried() {
        let server = Scripted::start(vec![Reply::status(404), Reply::status(200)]).await;
        let resp = retrying(5).send(server.get("/m")).await.unwrap();
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.attempts.count, 1);
        assert_eq!(server.seen().len(), 1);
    }

    #[tokio::test]
    async fn retry_after_sets_the_wait() {
        let server = Scripted::start(vec![
            Reply::status(503).header("retry-after", "1"),
            Reply::status(200),
        ])
        .await;
        retrying(1).send(server.get("/m")).await.unwrap();
        let seen = server.seen();
        // A lower bound only: a slow machine makes the gap longer, never shorter.
        let gap = seen[1].received - seen[0].received;
        assert!(gap >= Duration::from_millis(950), "{gap:?}");
    }

    #[tokio::test]
    async fn a_connection_closed_without_an_answer_is_retried() {
        let server = Scripted::start(vec![Reply::hang_up(), Reply::status(200)]).await;
        let resp = retrying(3).send(server.get("/m")).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.attempts.count, 2);
    }

    #[tokio::test]
    async fn a_failure_every_time_ends_in_an_error_telling_the_attempts() {
        let server = Scripted::start(vec![Reply::hang_up(); 3]).await;
        let e = retrying(2).send(server.get("/m")).await.unwrap_err();
        assert!(matches!(e, Error::Http { .. }), "{e}");
        assert!(e.to_string().contains(" after 3 attempts in "), "{e}");
        assert_eq!(server.seen().len(), 3);
    }

    #[tokio::test]
    async fn each_retry_is_told_with_its_wait_its_count_and_the_status() {
        let server = Scripted::start(vec![
            Reply::status(503),
            Reply::status(502),
            Reply::status(200),
        ])
        .await;
        let (stack, told) = telling(fast(4));
        stack.send(server.get("/m")).await.unwrap();
        let host = server.url("/").host_str().unwrap().to_string();
        let port = server.url("/").port().unwrap();
        let lines = told.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(
            lines[0],
            format!("retrying in 0.0 s (1/4): HTTP 503 Service Unavailable ({host}:{port})")
        );
        assert_eq!(
            lines[1],
            format!("retrying in 0.0 s (2/4): HTTP 502 Bad Gateway ({host}:{port})")
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_told_at_each_retry_and_ends_asking_for_the_registry() {
        let (stack, told) = telling(fast(2));
        let url = refusing_url();
        let e = stack
            .send(Request::new(Method::GET, url.clone(), "manifest a:1"))
            .await
            .unwrap_err();
        let at = format!("127.0.0.1:{}", url.port().unwrap());
        assert_eq!(
            told.lines(),
            [
                format!("retrying in 0.0 s (1/2): connection refused ({at})"),
                format!("retrying in 0.0 s (2/2): connection refused ({at})"),
            ]
        );
        let shown = e.to_string();
        assert!(shown.contains(" after 3 attempts in "), "{shown}");
        assert!(
            shown.ends_with(&format!(
                ": nothing answers at {at}: is the registry running?"
            )),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_retried_once_and_quickly() {
        // A patient policy: five retries, the first after 10 s. The name gets one, soon.
        let (stack, told) = telling(RetryPolicy {
            retries: 5,
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(20),
            ..RetryPolicy::default()
        });
        let url = url::Url::parse("https://nonexistent.invalid/v2/").unwrap();
        let e = stack
            .send(Request::new(Method::GET, url, "manifest a:1"))
            .await
            .unwrap_err();
        assert_eq!(
            told.lines(),
            ["retrying in 0.5 s (1/1): name does not resolve (nonexistent.invalid)"]
        );
        let shown = e.to_string();
        assert!(shown.contains(" after 2 attempts in "), "{shown}");
        assert!(
            shown.contains(": nonexistent.invalid does not resolve: check the network"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn connections_that_time_out_are_not_retried_past_the_connect_window() {
        // A listener whose one-place queue is full drops further connection attempts, as a
        // firewall that drops packets does: connecting times out.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let _queued = std::net::TcpStream::connect(addr).unwrap();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let told = Arc::new(Told::default());
        let policy = RetryPolicy {
            connect_window: Duration::from_millis(700),
            ..fast(10)
        };
        let layer = Retry::new(policy).telling(Some(told.clone() as Arc<dyn Notices>));
        let stack = Stack::new(
            vec![Arc::new(layer)],
            crate::http::send::Wire::new(client, crate::patience::Patience::default()),
        );
        let url = url::Url::parse(&format!("http://{addr}/v2/")).unwrap();
        let e = stack
            .send(Request::new(Method::GET, url, "manifest a:1"))
            .await
            .unwrap_err();
        // Attempts at 0, 0.3 and 0.6 s start inside the window (fewer on a slow machine);
        // ten retries would have taken 3.3 s.
        let Error::Http { attempts, .. } = &e else {
            panic!("{e}");
        };
        assert!((2..=3).contains(&attempts.count), "{e}");
        let lines = told.lines();
        assert_eq!(lines.len() as u32, attempts.count - 1, "{lines:?}");
        assert!(
            lines.iter().all(|l| l.contains("): timed out (")),
            "{lines:?}"
        );
    }

    #[tokio::test]
    async fn an_upload_body_is_made_afresh_for_each_attempt() {
        let server = Scripted::start(vec![Reply::status(503), Reply::status(201)]).await;
        let opened = Arc::new(AtomicUsize::new(0));
        let count = opened.clone();
        let mut req = Request::new(Method::PUT, server.url("/upload"), "upload");
        req.body = Body::Reopen(Arc::new(move || {
            count.fetch_add(1, Ordering::SeqCst);
            Ok(reqwest::Body::from(Bytes::from_static(b"layer bytes")))
        }));
        let resp = retrying(3).send(req).await.unwrap();
        assert_eq!(resp.status(), 201);
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        let seen = server.seen();
        assert!(seen
            .iter()
            .all(|s| s.method == "PUT" && s.body == b"layer bytes"));
    }
}

//! The `-v` trace: one line per request attempt, for seeing what drag and a registry said to
//! each other.
//!
//! The layer sits under retries, so every attempt shows, and over the wire, so it sees the
//! `Authorization` header the auth layer added: it shows that header's scheme, never its
//! value, and every URL in [redacted](super::RedactedUrl) form.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::AUTHORIZATION;
use tokio::time::Instant;

use crate::error::Result;
use crate::http::{Layer, Next, RedactedUrl, Request, Response};
use crate::terminal_text;

/// Where trace lines go (the CLI writes them to stderr).
pub trait Trace: Send + Sync {
    /// One finished attempt, already redacted and escaped.
    fn line(&self, line: &str);
}

impl std::fmt::Debug for dyn Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trace")
    }
}

/// The trace layer.
pub struct Tracing {
    sink: Arc<dyn Trace>,
}

impl Tracing {
    /// A layer writing to `sink`.
    pub fn new(sink: Arc<dyn Trace>) -> Tracing {
        Tracing { sink }
    }
}

#[async_trait]
impl Layer for Tracing {
    async fn send(&self, req: Request, next: Next<'_>) -> Result<Response> {
        let mut line = format!("{} {}", req.method, RedactedUrl::new(&req.url));
        if let Some(scheme) = req
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(' ').next())
        {
            line.push_str(&format!(" ({} credential)", terminal_text::shown(scheme)));
        }
        let started = Instant::now();
        let result = next.run(req).await;
        let ms = started.elapsed().as_millis();
        match &result {
            Ok(resp) => {
                line.push_str(&format!(" -> {}", resp.status()));
                if let Some(n) = resp.content_length() {
                    line.push_str(&format!(", {n} bytes"));
                }
                match resp.location() {
                    Some(Ok(to)) => line.push_str(&format!(", to {}", RedactedUrl::new(&to))),
                    Some(Err(_)) => line.push_str(", to an invalid URL"),
                    None => {}
                }
            }
            Err(e) => line.push_str(&format!(" -> failed: {e}")),
        }
        line.push_str(&format!(" ({ms} ms)"));
        self.sink.line(&line);
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::http::scripted::{self, Reply, Scripted};

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);

    impl Trace for Lines {
        fn line(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
    }

    #[tokio::test]
    async fn a_trace_line_shows_the_attempt_but_never_a_secret() {
        let server =
            Scripted::start(vec![Reply::status(307)
                .header("location", "https://cdn.test/blob?X-Amz-Signature=secret2")])
            .await;
        let lines = Arc::new(Lines::default());
        let stack = scripted::stack(vec![Arc::new(Tracing::new(lines.clone()))]);
        let mut req = server.get("/v2/a/blobs/x?sig=secret1");
        req.headers
            .insert(AUTHORIZATION, "Bearer secret3".parse().unwrap());
        stack.send(req).await.unwrap();
        let lines = lines.0.lock().unwrap();
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        let url = server.url("/v2/a/blobs/x");
        assert!(
            line.starts_with(&format!(
                "GET {url} (Bearer credential) -> 307 Temporary Redirect"
            )),
            "{line}"
        );
        assert!(line.contains(", to https://cdn.test/blob ("), "{line}");
        assert!(!line.contains("secret"), "{line}");
    }
}

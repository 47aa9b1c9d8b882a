//! A scripted HTTP server on loopback, for testing each layer alone: it answers requests with
//! the replies it was given, in order, and records what it was asked.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

use crate::http::send::Wire;
use crate::http::{Layer, Request, Stack};
use crate::patience::Patience;

/// One scripted answer.
#[derive(Clone)]
pub(crate) struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    hang_up: bool,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: String::new(),
            hang_up: false,
        }
    }

    /// Closes the connection without answering.
    pub(crate) fn hang_up() -> Reply {
        Reply {
            hang_up: true,
            ..Reply::status(0)
        }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub(crate) fn body(mut self, body: &str) -> Reply {
        self.body = body.into();
        self
    }
}

/// What the server was asked.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the request had arrived in full.
    pub received: std::time::Instant,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) struct Scripted {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
}

impl Scripted {
    /// A server answering with `replies` in order, then 599 to every further request (so a
    /// test that sends one request too many sees it).
    pub(crate) async fn start(replies: Vec<Reply>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        let log = seen.clone();
        let script = replies.clone();
        tokio::spawn(async move {
            let replies = script;
            while let Ok((mut conn, _)) = listener.accept().await {
                let Some(req) = read_request(&mut conn).await else {
                    continue;
                };
                log.lock().unwrap().push(req);
                let reply = replies
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or_else(|| Reply::status(599).body("the script has ended"));
                if reply.hang_up {
                    continue;
                }
                let mut out = format!("HTTP/1.1 {} Scripted\r\n", reply.status);
                for (k, v) in &reply.headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str(&format!(
                    "content-length: {}\r\nconnection: close\r\n\r\n{}",
                    reply.body.len(),
                    reply.body
                ));
                let _ = conn.write_all(out.as_bytes()).await;
                let _ = conn.shutdown().await;
            }
        });
        Scripted {
            addr,
            seen,
            replies,
        }
    }

    /// Adds replies to the script (for replies that name the server's own address).
    pub(crate) fn then(&self, replies: Vec<Reply>) {
        self.replies.lock().unwrap().extend(replies);
    }

    pub(crate) fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// A GET for `path` on this server.
    pub(crate) fn get(&self, path: &str) -> Request {
        Request::new(Method::GET, self.url(path), "scripted request")
    }
}

/// `layers` over a plain client (no redirects followed by the client, as in drag).
pub(crate) fn stack(layers: Vec<Arc<dyn Layer>>) -> Stack {
    Stack::new(layers, wire())
}

pub(crate) fn wire() -> Wire {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Wire::new(client, Patience::default())
}

async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        target,
        headers,
        body,
        received: std::time::Instant::now(),
    })
}

//! A recording, fault-injecting HTTP proxy in front of a registry, for upload tests: it
//! logs every request (method, target, Host, whether it carried `Authorization`), and can cut
//! a PATCH mid-body, point upload `Location`s at another host name, or answer manifest PUTs
//! with a wrong `Docker-Content-Digest`.
//!
//! One request per connection: the proxy asks the registry to close after each answer and
//! closes the client's connection too, so it never parses more than one request and one
//! answer at a time. Request bodies must come with `Content-Length` (drag's do).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does wrong on purpose.
#[derive(Clone, Debug, Default)]
pub struct ProxyFaults {
    /// Cut the Nth PATCH (from 1) after half its body, without forwarding any of it.
    pub cut_patch: Option<usize>,
    /// Point every `Location` the registry answers at `localhost` (same port): another
    /// host name for the same proxy, so another origin for drag.
    pub locations_via_localhost: bool,
    /// Answer this `Docker-Content-Digest` to every manifest PUT.
    pub manifest_digest: Option<String>,
}

/// One request as it reached the proxy.
#[derive(Clone, Debug)]
pub struct ProxiedRequest {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// The `Host` header.
    pub host: String,
    pub authorization: bool,
}

/// A running proxy; stops when dropped.
pub struct UploadProxy {
    port: u16,
    log: Arc<Mutex<Vec<ProxiedRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for UploadProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    upstream: String,
    faults: ProxyFaults,
    log: Arc<Mutex<Vec<ProxiedRequest>>>,
    patches: Mutex<usize>,
}

impl UploadProxy {
    /// A proxy on a fresh loopback port forwarding to `upstream` (`127.0.0.1:PORT`).
    pub async fn start(upstream: &str, faults: ProxyFaults) -> UploadProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            faults,
            log: log.clone(),
            patches: Mutex::new(0),
        });
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(client, &shared).await;
                });
            }
        });
        UploadProxy { port, log, task }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.log.lock().unwrap().clone()
    }

    /// How many requests so far had this method and a target containing `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.target.contains(part))
            .count()
    }
}

/// Reads until the end of the head; returns it and whatever body bytes came with it.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            return Ok(Some((head, buf[end + 4..].to_vec())));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        // A TLS handshake (drag probing for HTTPS): this proxy speaks plain HTTP only.
        if buf[0] == 0x16 || buf.len() > 1 << 20 {
            return Ok(None);
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `head` without the headers named, plus `extra` lines.
fn rewrite(head: &str, drop: &[&str], extra: &[String]) -> String {
    let mut lines: Vec<String> = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| {
            let name = l.split(':').next().unwrap_or("").trim();
            !drop.iter().any(|d| d.eq_ignore_ascii_case(name))
        })
        .map(str::to_string)
        .collect();
    lines.extend(extra.iter().cloned());
    format!("{}\r\n\r\n", lines.join("\r\n"))
}

async fn serve(mut client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let Some((head, mut body)) = read_head(&mut client).await? else {
        return Ok(());
    };
    let mut first = head.lines().next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    shared.log.lock().unwrap().push(ProxiedRequest {
        method: method.clone(),
        target: target.clone(),
        host: header(&head, "host").unwrap_or("").to_string(),
        authorization: header(&head, "authorization").is_some(),
    });
    let length: usize = header(&head, "content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    if method == "PATCH" {
        let n = {
            let mut patches = shared.patches.lock().unwrap();
            *patches += 1;
            *patches
        };
        if shared.faults.cut_patch == Some(n) {
            while body.len() < length / 2 {
                let mut chunk = vec![0u8; 8192];
                let got = client.read(&mut chunk).await?;
                if got == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..got]);
            }
            // Dropped without an answer, and nothing of it reached the registry.
            return Ok(());
        }
    }
    while body.len() < length {
        let mut chunk = vec![0u8; 65536];
        let got = client.read(&mut chunk).await?;
        if got == 0 {
            return Ok(());
        }
        body.extend_from_slice(&chunk[..got]);
    }
    let mut upstream = TcpStream::connect(&shared.upstream).await?;
    let forwarded = rewrite(&head, &["connection"], &["Connection: close".to_string()]);
    upstream.write_all(forwarded.as_bytes()).await?;
    upstream.write_all(&body).await?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer).await?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(answer.len());
    let (answer_head, answer_body) = answer.split_at(split);
    let answer_head = String::from_utf8_lossy(answer_head).into_owned();
    let mut drop = vec![];
    let mut extra = vec![];
    let location =
        header(&answer_head, "location").filter(|_| shared.faults.locations_via_localhost);
    if let Some(location) = location {
        if let Ok(mut url) = url::Url::parse(location) {
            url.set_host(Some("localhost")).expect("host");
            drop.push("location");
            extra.push(format!("Location: {url}"));
        }
    }
    if let Some(digest) = &shared.faults.manifest_digest {
        if method == "PUT" && target.contains("/manifests/") {
            drop.push("docker-content-digest");
            extra.push(format!("Docker-Content-Digest: {digest}"));
        }
    }
    let answer_head = rewrite(&answer_head, &drop, &extra);
    client.write_all(answer_head.as_bytes()).await?;
    client.write_all(answer_body).await?;
    client.shutdown().await
}

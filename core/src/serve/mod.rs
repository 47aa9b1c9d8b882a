//! `drag serve`: the images of archives, bundles and OCI layouts served as a read-only OCI
//! distribution registry, so the far side of an air gap needs nothing but drag and the file it
//! carried. Docker's `registry-mirrors` and containerd's `hosts.toml` can point at it as a
//! mirror of Docker Hub (or of any registry, with `keep_host`).
//!
//! The parts, in the order a request meets them: `catalogue` (the union of the sources,
//! opened once), the connection handling here (a bounded number of connections, TLS from
//! `tls`, header size and time limits, `stall` for clients that stop reading),
//! `service` (method, login from `auth`, route from `routes`, answer from `answers`
//! with `range` and streamed `body`s after the blob's `check`, a line of `log`).
//!
//! What is verified: every manifest and index when the sources open (their digests; an
//! archive's config and layer files are located and their sizes checked); each blob, read whole
//! and hashed once before its first request is answered (requests arriving meanwhile wait for
//! that one check), so a corrupt blob is never sent, whole or in part. After that, blobs stream
//! as they are: the files must not change while they are served.
//!
//! ```no_run
//! # async fn demo() -> Result<(), drag_core::Error> {
//! use drag_core::serve::{ServeOptions, Server};
//! let opts = ServeOptions::new(vec!["bundle.tar".into()]);
//! let server = Server::bind(opts).await?;
//! for image in server.images() {
//!     eprintln!("{} -> {}", image.name, image.digest);
//! }
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod answers;
mod auth;
mod body;
mod catalogue;
mod check;
mod log;
mod names;
mod range;
mod routes;
mod service;
mod stall;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

pub use catalogue::ServedImage;
pub use log::ServeLog;

use catalogue::Catalogue;
use service::Shared;

/// The most request header bytes (request line included); more is answered 431.
const MAX_HEADER_BYTES: usize = 16 << 10;
/// The most connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 128;
/// How long a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may go on after a shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What to serve, and how.
#[derive(Clone)]
pub struct ServeOptions {
    /// The archives, bundles and layouts, served as one registry (earlier first).
    pub sources: Vec<PathBuf>,
    /// Where to listen (default 127.0.0.1:5000: only this machine; all interfaces must be
    /// asked for).
    pub listen: SocketAddr,
    /// A PEM certificate chain and its key, to serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// An htpasswd file of bcrypt logins every request must present.
    pub htpasswd: Option<PathBuf>,
    /// Keep each image's registry host as the first component of its name.
    pub keep_host: bool,
    /// How long a client may take to send a request's headers (also how long an idle
    /// connection is kept).
    pub header_timeout: Duration,
    /// How long an answer may wait on a client that reads nothing before its connection is
    /// closed.
    pub stall_timeout: Duration,
    /// Where request lines and notes go.
    pub log: Arc<dyn ServeLog>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("sources", &self.sources)
            .field("listen", &self.listen)
            .field("tls", &self.tls)
            .field("htpasswd", &self.htpasswd)
            .field("keep_host", &self.keep_host)
            .finish()
    }
}

/// Logs nowhere.
struct Quiet;

impl ServeLog for Quiet {
    fn line(&self, _: &str) {}
}

impl ServeOptions {
    /// Serves `sources` on 127.0.0.1:5000, plain HTTP, no logins, hosts dropped, no log.
    pub fn new(sources: Vec<PathBuf>) -> ServeOptions {
        ServeOptions {
            sources,
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            tls: None,
            htpasswd: None,
            keep_host: false,
            header_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(60),
            log: Arc::new(Quiet),
        }
    }
}

/// A registry ready to serve: sources open, address bound.
pub struct Server {
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    header_timeout: Duration,
    stall_timeout: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("address", &self.listener.local_addr().ok())
            .finish()
    }
}

impl Server {
    /// Opens the sources, reads the TLS and htpasswd files and binds the address: every
    /// mistake is found here, before anything is served.
    pub async fn bind(opts: ServeOptions) -> Result<Server> {
        if opts.sources.is_empty() {
            return Err(Error::Usage(
                "nothing to serve: name an archive or layout".into(),
            ));
        }
        let tls = match &opts.tls {
            Some((cert, key)) => Some(tls::acceptor(cert, key)?),
            None => None,
        };
        let htpasswd = match &opts.htpasswd {
            Some(path) => Some(Arc::new(auth::Htpasswd::read(path)?)),
            None => None,
        };
        let sources = opts.sources.clone();
        let keep_host = opts.keep_host;
        let catalogue = tokio::task::spawn_blocking(move || Catalogue::open(&sources, keep_host))
            .await
            .map_err(|e| Error::Usage(format!("opening the sources: {e}")))??;
        for note in &catalogue.notes {
            opts.log.line(&format!("note: {note}"));
        }
        let listener = TcpListener::bind(opts.listen)
            .await
            .map_err(|e| Error::io(format!("listening on {}", opts.listen), e))?;
        Ok(Server {
            shared: Arc::new(Shared {
                catalogue,
                checks: Default::default(),
                htpasswd,
                keep_host,
                log: opts.log.clone(),
            }),
            listener,
            tls,
            header_timeout: opts.header_timeout,
            stall_timeout: opts.stall_timeout,
        })
    }

    /// The address bound (its port, when port 0 was asked for).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| Error::io("reading the bound address", e))
    }

    /// True when serving HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The names served, in the order of the sources.
    pub fn images(&self) -> &[ServedImage] {
        self.shared.catalogue.served()
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets requests in flight finish
    /// for a few seconds, and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .max_header_size(MAX_HEADER_BYTES)
            .max_buf_size(MAX_HEADER_BYTES.max(8192) * 2);
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                () = &mut shutdown => break,
            };
            let (stream, remote) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, and go on serving.
                        self.shared.log.line(&format!("error: accepting a connection: {e}"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let shared = self.shared.clone();
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        service::handle(shared, remote, request).await,
                    )
                }
            });
            match &self.tls {
                None => {
                    let io = stall::Stall::new(TokioIo::new(stream), self.stall_timeout);
                    let conn = builder.serve_connection(io, service);
                    let conn = graceful.watch(conn);
                    let log = self.shared.log.clone();
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            log.line(&connection_error(remote, &e));
                        }
                        drop(permit);
                    });
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    let builder = builder.clone();
                    let log = self.shared.log.clone();
                    let watcher = graceful.watcher();
                    let stall_timeout = self.stall_timeout;
                    tokio::spawn(async move {
                        let tls =
                            tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                                .await;
                        match tls {
                            Ok(Ok(stream)) => {
                                let io = stall::Stall::new(TokioIo::new(stream), stall_timeout);
                                let conn = builder.serve_connection(io, service);
                                if let Err(e) = watcher.watch(conn).await {
                                    log.line(&connection_error(remote, &e));
                                }
                            }
                            Ok(Err(e)) => log.line(&format!("{remote} TLS handshake failed: {e}")),
                            Err(_) => log.line(&format!("{remote} TLS handshake timed out")),
                        }
                        drop(permit);
                    });
                }
            }
        }
        drop(self.listener);
        self.shared
            .log
            .line("stopping: letting requests in flight finish");
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            self.shared
                .log
                .line("stopped with requests still in flight");
        }
        Ok(())
    }
}

/// A connection that ended badly (headers too slow or too large, a request that is not HTTP,
/// a client gone mid-answer): hyper answered it (408, 431, 400) or closed it, without a request
/// line, so it is logged here.
fn connection_error(remote: SocketAddr, e: &hyper::Error) -> String {
    let what = if stall::is_stall(e) {
        "the client read nothing for too long".to_string()
    } else if e.is_timeout() {
        "request headers not sent in time".to_string()
    } else if e.is_parse_too_large() {
        "request headers too large".to_string()
    } else if e.is_parse() {
        "not an HTTP/1 request".to_string()
    } else {
        e.to_string()
    };
    format!("{remote} connection closed: {what}")
}

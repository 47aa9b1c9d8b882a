//! Servers that misbehave on purpose, for tests of what drag does with hostile traffic.
//!
//! [`HostileServer`] serves whatever axum `Router` a test builds (a tag list that pages
//! forever, a token service that answers megabytes, error messages full of escape sequences);
//! the router is made knowing the server's own URL, for challenges and links that point back.
//! [`SilentServer`] accepts connections and never answers at all.
//!
//! Both remember what reached them (requests, or connections for the silent one), so a test
//! can bound what drag did by counting, or by the time between two arrivals, rather than by
//! timing the whole `drag` process.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use axum::Router;

use crate::recorded::{Listener, RecordedRequest};
use crate::server::{bind_loopback, local_addr, BackgroundServer};

/// An in-process HTTP server on 127.0.0.1 serving a test's router; stops when dropped.
pub struct HostileServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    _server: BackgroundServer,
}

impl HostileServer {
    /// Serves the router `make` builds from the server's URL (`http://127.0.0.1:PORT`),
    /// recording every request before the router sees it.
    pub fn start(make: impl FnOnce(String) -> Router) -> HostileServer {
        let listener = bind_loopback();
        let addr = local_addr(&listener);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let router = make(format!("http://{addr}")).layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                log.lock()
                    .expect("hostile server requests")
                    .push(RecordedRequest::new(
                        Listener::Hostile,
                        &addr.to_string(),
                        request.method(),
                        request.uri(),
                        request.headers(),
                    ));
                next.run(request)
            },
        ));
        let server = BackgroundServer::start("hostile-server", vec![(listener, router)]);
        HostileServer {
            addr,
            requests,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests
            .lock()
            .expect("hostile server requests")
            .clone()
    }
}

/// A listener on 127.0.0.1 that accepts every connection and never sends a byte: the
/// registry that keeps a client waiting for headers. Stops (closing them all) when dropped.
pub struct SilentServer {
    addr: SocketAddr,
    accepted: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("listener has an address");
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let accepting = accepted.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("drag-tests silent-server".into())
            .spawn(move || {
                let mut held: Vec<TcpStream> = Vec::new();
                while !stopping.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            accepting
                                .lock()
                                .expect("silent server connections")
                                .push(Instant::now());
                            held.push(stream);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
            .expect("spawn silent server thread");
        SilentServer {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// When each connection was accepted, in order. The accept loop polls every 20 ms, so
    /// each time is late by at most that.
    pub fn connections(&self) -> Vec<Instant> {
        self.accepted
            .lock()
            .expect("silent server connections")
            .clone()
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

//! Runs in-process HTTP servers on a runtime and thread of their own.
//!
//! The servers (fake registry, CDN, static host) must keep answering while a
//! test blocks, e.g. in `std::process::Command::output()` waiting for the
//! `drag` binary to pull from them. On the test's own runtime that would
//! starve them (and deadlock outright under a current-thread
//! `#[tokio::test]`), so each server gets a dedicated thread. Listeners are
//! bound before the thread starts, so a server accepts connections (into the
//! kernel backlog) as soon as `start` returns: no readiness wait is needed.

use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use tokio::sync::oneshot;

/// A listener on 127.0.0.1 with a kernel-chosen port.
pub(crate) fn bind_loopback() -> TcpListener {
    TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0")
}

/// Serves routers until dropped.
pub(crate) struct BackgroundServer {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundServer {
    /// Serves each router on its listener; `name` labels the thread.
    pub(crate) fn start(name: &str, services: Vec<(TcpListener, Router)>) -> BackgroundServer {
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("drag-tests {name}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("build server runtime");
                runtime.block_on(async move {
                    for (listener, router) in services {
                        listener
                            .set_nonblocking(true)
                            .expect("nonblocking listener");
                        let listener = tokio::net::TcpListener::from_std(listener)
                            .expect("register listener with tokio");
                        tokio::spawn(async move {
                            // Serving only stops with the runtime; an accept
                            // error here would mean the process is out of fds.
                            let _ = axum::serve(listener, router).await;
                        });
                    }
                    let _ = shutdown_rx.await;
                });
                // In-flight responses (a stalled body, say) are cut off rather
                // than awaited: the test that wanted them is over.
                runtime.shutdown_timeout(Duration::from_millis(200));
            })
            .expect("spawn server thread");
        BackgroundServer {
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `127.0.0.1:PORT` of a bound listener.
pub(crate) fn local_addr(listener: &TcpListener) -> SocketAddr {
    listener.local_addr().expect("listener has an address")
}

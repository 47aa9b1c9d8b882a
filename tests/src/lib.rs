//! Test support for drag's integration tests (`tests/tests/*.rs`).
//!
//! drag talks to registries and feeds real consumers, so its tests need
//! controllable registries and real tools around it:
//!
//! - [`image`]: reproducible images, layers, indexes built in memory;
//! - [`archive`] / [`layout`]: reading what drag wrote and checking it holds an image;
//! - [`bytes`]: seeded random content, and comparing blobs without printing them;
//! - [`FakeRegistry`] / [`StaticHost`]: in-process servers with Docker Hub /
//!   MCR behaviours, injected faults and a request log;
//! - [`HostileServer`] / [`SilentServer`]: registries that misbehave on purpose, and what
//!   reached them (requests, connections, when);
//! - [`RealRegistry`]: the reference registry implementation as a child process;
//! - [`require_tool`] / [`tools::skip`]: skopeo, podman, umoci... or a visible skip;
//! - [`Dockerd`]: a private Docker 20.10 daemon shared by a test binary, for `docker load`;
//! - [`tar_readers`]: GNU tar, busybox tar and Python's tarfile, which must all agree;
//! - [`drag_cli`]: the `drag` binary built from this workspace, and running it
//!   ([`pull`] for the common `drag pull` in a directory);
//! - [`DragServe`]: `drag serve` as a child process on a free port, stopped as Ctrl-C would;
//! - [`UploadProxy`]: a recording proxy in front of a registry that cuts uploads and
//!   falsifies answers, for push tests;
//! - [`peak_memory`]: drag under GNU `time -v`, for peak-memory bounds.

pub mod archive;
pub mod bytes;
pub mod digest;
pub mod dockerd;
pub mod drag_cli;
pub mod drag_serve;
pub mod fake_registry;
pub mod hostile;
pub mod image;
pub mod layout;
pub mod peak_memory;
pub mod pki;
pub mod podman;
pub mod real_registry;
pub mod recorded;
mod server;
pub mod static_host;
pub mod tar_readers;
pub mod tmpfs;
pub mod token_service;
pub mod tools;
pub mod upload_proxy;
pub mod xfs;

pub use digest::sha256_digest;
pub use dockerd::Dockerd;
pub use drag_cli::{drag, drag_bin, pull, run, DragOutput};
pub use drag_serve::DragServe;
pub use fake_registry::{
    basic_login, AuthMode, FakeRegistry, Fault, Gzip, PullLimit, TokenField, TokenLogins,
    TokenRequest,
};
pub use hostile::{HostileServer, SilentServer};
pub use image::{
    attestation_for, media_types, Blob, Compression, ForeignLayer, Image, ImageBuilder,
    IndexBuilder, Layer, LayerBuilder, ManifestFormat,
};
pub use pki::TestPki;
pub use podman::Podman;
pub use real_registry::RealRegistry;
pub use recorded::{Listener, RecordedRequest};
pub use static_host::StaticHost;
pub use token_service::{Account, TokenService};
pub use tools::require_tool;
pub use upload_proxy::{ProxiedRequest, ProxyFaults, UploadProxy};

/// A loopback port that was free a moment ago (for child processes that
/// must be told their port; in-process servers bind port 0 instead).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A reqwest client for talking to the test servers: no proxy (loopback
/// must stay loopback), no redirects followed (tests look at them), bounded.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("build reqwest client")
}

/// The body of `response` parsed as JSON (panics otherwise). The workspace's
/// reqwest has no `json` feature; this keeps tests from needing it.
pub async fn response_json(response: reqwest::Response) -> serde_json::Value {
    let bytes = response.bytes().await.expect("read response body");
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "body is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

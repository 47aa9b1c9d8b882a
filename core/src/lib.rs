#![deny(missing_docs)]
//! drag-core: pull container images from registries without a daemon.
//!
//! The pull is a pipeline and the modules follow it: [`reference`](mod@reference) parses what the
//! user typed, an [`adapter`] normalizes it into a [`name`] and knows its registry's quirks,
//! [`registry`] speaks the v2 protocol through the layers of [`http`] (with [`auth`]),
//! [`resolve`] walks [`manifest`]s and picks a [`platform`], the blob fetcher verifies content
//! into the blob store, and the output writers write the [`Format`] the user asked for to a
//! [`Destination`]. [`pull()`] runs the whole pipeline
//! and reports to a [`progress`] sink; [`inspect`] stops after resolving, and [`cache`] looks after
//! the blob store between pulls. Registries are not trusted: [`patience`] bounds how long they can
//! keep us waiting, [`registry::tag_list`] how much a paginated answer can make us hold, and
//! [`terminal_text`] what their words can do to a terminal.
//!
//! ```no_run
//! # async fn demo() -> Result<(), drag_core::Error> {
//! let mut opts = drag_core::PullOptions::new(vec!["alpine:3.9".into()]);
//! opts.output = Some(drag_core::Destination::Path("alpine.tar".into()));
//! let report = drag_core::pull(&opts, &drag_core::progress::Silent).await?;
//! println!("{} {}", report.output, report.images[0].digest);
//! # Ok(()) }
//! ```
//! (Link the adapters into the program, or no registry is known: the `drag-adapters` crate
//! links them all, or name one adapter crate in code.)
//!
//! # What is stable
//!
//! The public modules are the API. An adapter implements the traits in [`adapter`] with the types
//! of [`name`], [`reference`](mod@reference), [`digest`], [`platform`] and [`manifest`]; its
//! resolver may call [`resolve::resolve`] (or [`resolve::descend`] from a manifest it fetched
//! itself) and the [`registry::Session`] it is handed, and its
//! authenticator answers challenges with what [`auth`] and [`http`] give it. A library user
//! calls [`pull()`] (and [`cancel_pulls`] when it gives up on one), [`inspect`], [`cache`] or [`login`],
//! reads archives and layouts back for pushing with [`image_source`], serves them as a
//! read-only registry with [`serve`],
//! sets [`RegistryOptions`] (with a [`RegistryConfig`] of per-host settings,
//! [`http::retry::RetryPolicy`], [`patience`], an
//! [`http::trace::Trace`] sink and an [`http::notice::Notices`] sink), watches [`progress`] events, handles [`Error`], and can make
//! registry text safe for a terminal with [`terminal_text`]. The blob store and fetcher, the
//! output writers, the manifest cache, the HTTP clients and the other helpers are internal and
//! change freely.

// The stable surface: what adapters implement and call, and what a library user needs to
// pull, inspect and look after the cache.
pub mod adapter;
pub mod bundle;
pub mod cache;
pub mod copy;
pub mod digest;
pub mod image_source;
pub mod inspect;
pub mod login;
pub mod manifest;
pub mod platform;
pub mod progress;
pub mod pull;
pub mod push_local;
pub mod reference;
pub mod registry_config;
pub mod resolve;
pub mod serve;
pub mod sync;
pub mod terminal_text;

// The HTTP path, as far as adapters and settings need it.
pub mod auth;
pub mod error;
pub mod http;
pub mod name;
pub mod patience;
pub mod registry;

// Internals: free to change between versions.
pub(crate) mod blob;
pub(crate) mod cancel;
pub(crate) mod config;
pub(crate) mod delta;
pub(crate) mod file_mode;
pub(crate) mod hints;
pub(crate) mod host_pattern;
pub(crate) mod leftovers;
pub(crate) mod manifest_cache;
pub(crate) mod mirrors;
pub(crate) mod output;
pub(crate) mod pull_stores;
pub(crate) mod push;
pub(crate) mod reach;
mod redacted;
pub(crate) mod store;
pub(crate) mod tls;
pub(crate) mod transport;
pub(crate) mod user_dirs;
pub(crate) mod writeback;

pub use cancel::request as cancel_pulls;
pub use copy::{copy, CopyOptions, CopyReport};
pub use error::{Error, RegistryError, Result};
pub use output::{Destination, Format};
pub use pull::{pull, Cache, PullOptions, PullReport, PulledSummary, RegistryOptions};
pub use push::UploadLimits;
pub use push_local::{push, PushOptions, PushReport, PushedImage};
pub use redacted::RedactedUrl;
pub use registry_config::RegistryConfig;

/// Adapters implement async traits; re-exported so they need not pin the same version.
pub use async_trait::async_trait;
/// Adapters register with `drag_core::inventory::submit!`; re-exported for the same reason.
pub use inventory;

//! drag-core: pull container images from registries without a daemon.
//!
//! The pull is a pipeline and the modules follow it: [`reference`] parses what the user typed,
//! an [`adapter`] normalizes it into a [`name`] and knows its registry's quirks, [`registry`]
//! speaks the v2 protocol through the layers of [`http`] (with [`auth`] and [`transport`]), [`resolve`] walks [`manifest`]s and picks a
//! [`platform`], [`blob`] fetches and verifies content into the [`store`], and [`output`]
//! writes what the user asked for. [`pull`] runs the whole pipeline. Registries are not
//! trusted: [`patience`] bounds how long they can keep us waiting, [`tag_list`] how much a
//! paginated answer can make us hold, and [`terminal_text`] what their words can do to a
//! terminal.
//!
//! ```no_run
//! # async fn demo() -> Result<(), drag_core::Error> {
//! let mut opts = drag_core::PullOptions::new(vec!["alpine:3.9".into()]);
//! opts.output = Some(drag_core::Destination::Path("alpine.tar".into()));
//! let report = drag_core::pull(&opts, &drag_core::progress::Silent).await?;
//! println!("{} {}", report.output, report.images[0].digest);
//! # Ok(()) }
//! ```
//! (Link at least one adapter crate into the program, or no registry is known.)

pub mod adapter;
pub mod auth;
pub mod blob;
pub mod cache;
pub mod cancel;
pub mod config;
pub mod digest;
pub mod error;
pub mod http;
pub mod inspect;
pub mod leftovers;
pub mod login;
pub mod manifest;
pub mod manifest_cache;
pub mod name;
pub mod output;
pub mod patience;
pub mod platform;
pub mod progress;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod resolve;
pub mod store;
pub mod tag_list;
pub mod terminal_text;
pub mod tls;
pub mod transport;
pub mod user_dirs;
pub mod writeback;

pub use error::{Error, RegistryError, Result};
pub use output::{Destination, Format};
pub use pull::{pull, Cache, PullOptions, PullReport, RegistryOptions};

// Adapters implement async traits; re-exported so they need not pin the same version.
pub use async_trait::async_trait;
pub use inventory;

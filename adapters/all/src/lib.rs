//! Every registry adapter drag has, linked into one crate that the CLI and the tests depend on.
//!
//! Adapters register themselves with `inventory`, which works only for crates the program
//! links; a crate that no linked code names is dropped. This crate names them all, so a
//! program that names this crate (`use drag_adapters as _;`) knows every adapter.
//!
//! The list is the `drag-adapter-*` lines of this crate's Cargo.toml: build.rs turns them
//! into [`NAMES`]. Adding an adapter is one crate under `adapters/` (a member through the
//! workspace's `adapters/*` glob) that exports `pub const NAME` (its `--registry` name), plus
//! one dependency line there.
//!
//! Each adapter crate is also re-exported under its name without the `drag-adapter-` prefix
//! (`drag_adapters::dockerhub`), for the few commands that use an adapter's own API.

#![deny(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/linked.rs"));

//! drag-core: pull container images from registries without a daemon.
//!
//! The pull is a pipeline, and the modules follow it: [`reference`] parses what the user typed,
//! an [`adapter`] normalizes it and knows the registry's quirks, [`registry`] speaks the v2
//! protocol (with [`auth`]), [`manifest`] and [`platform`] choose the image, [`blob`] fetches and
//! verifies content into a [`store`], and [`output`] writes what the user asked for.

pub mod digest;
pub mod platform;
pub mod reference;
pub mod auth;

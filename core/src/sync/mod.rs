//! `drag sync`: many images mirrored in one run, from a list (YAML or one reference per
//! line), either registry to registry (`--to HOST[/PREFIX]`, each image through
//! [`crate::copy()`]) or into one bundle (`-o`, through the pull pipeline, shared blobs once).
//! The parts follow the run: [`list`] reads and checks the list before any request,
//! [`filter`] picks tags from a repository's listing, [`plan`] turns entries into
//! source → destination pairs with their digests, and [`run`] transfers them (or skips what
//! is already there) and writes the report.

pub mod filter;
pub mod list;
pub mod plan;
pub mod run;

pub use list::{parse, read, Entry, Tags};
pub use run::{sync, Status, SyncEntry, SyncOptions, SyncReport, SyncTarget};

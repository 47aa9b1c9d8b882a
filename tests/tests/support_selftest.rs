//! Self-tests of the `drag-tests` support library: each piece does what
//! later integration tests will rely on, checked with plain HTTP (reqwest),
//! the `tar` crate and the real registry, without drag itself.
//!
//! One test binary (modules under `support_selftest/`) so it compiles once.

#[path = "support_selftest/drag_cli.rs"]
mod drag_cli;
#[path = "support_selftest/fake_registry.rs"]
mod fake_registry;
#[path = "support_selftest/faults.rs"]
mod faults;
#[path = "support_selftest/image.rs"]
mod image;
#[path = "support_selftest/real_registry.rs"]
mod real_registry;
#[path = "support_selftest/static_host.rs"]
mod static_host;
#[path = "support_selftest/tools.rs"]
mod tools;

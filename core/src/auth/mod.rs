//! Registry authentication.
pub mod challenge;

//! Looking at bundles after the fact: `drag bundle ls` says what an archive or layout holds
//! (its images, their platforms, its blobs and their size, and for a delta what it leaves out);
//! `drag bundle verify` checks every digest in a set of bundles and that each blob a bundle
//! lacks (a delta's left-out layers) is held by another bundle of the set (its bases).
//!
//! Both read through [`ImageSource`](crate::image_source::ImageSource), so they see exactly
//! what `drag push` and `drag serve` see.

mod list;
mod verify;
mod walk;

pub use list::{list, BundleListing, ListedBlob, ListedImage};
pub use verify::{verify, VerifyReport};

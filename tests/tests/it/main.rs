//! drag's integration tests, one binary made of modules so they compile once.
//!
//! Each module covers one capability against in-process fake registries (Docker Hub and MCR
//! behaviours, faults) and the real `docker-registry`, checking outputs with real consumers
//! (skopeo, podman, umoci, tar) where they are installed.

// Link every adapter, as the CLI does, so library-level tests see them registered.
use drag_adapters as _;

mod adapter_named;
mod adapters_cloud;
mod adapters_hosted;
mod aligned_archives;
mod bundle;
mod cache;
mod cache_sync;
mod cli;
mod cli_edges;
mod config_file;
mod copy;
mod credential_hosts;
mod credentials;
mod delta;
mod docker_load;
mod dockerhub;
mod error_hints;
mod faults;
mod formats;
mod hostile;
mod http_layers;
mod image_source;
mod inspect;
mod layouts;
mod login;
mod manifest_cache;
mod manifests;
mod output_places;
mod platform_names;
mod progress;
mod proxy;
mod push;
mod push_token;
mod quirks;
mod ratelimit;
mod real_registry;
mod rootfs_hostile;
mod serve;
mod sha512;
mod shapes;
mod sync;
mod tls;
mod windows;

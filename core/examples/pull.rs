//! Pulling an image with drag-core as a library: options in, progress events out.
//!
//! ```text
//! cargo run -p drag-core --example pull -- 127.0.0.1:5000/myorg/app:1 app.tar
//! ```
//!
//! A library user links the adapters it wants; here only the catch-all OCI adapter is
//! defined inline, to show how little an adapter needs.

use drag_core::adapter::{
    familiar_name, Adapter, Authenticator, ImageName, ManifestQuirks, Registration, Resolver,
    Target,
};
use drag_core::progress::{Event, FnProgress};
use drag_core::reference::Reference;
use drag_core::{Destination, PullOptions};

struct AnyRegistry;

impl Adapter for AnyRegistry {
    fn name(&self) -> &'static str {
        "example"
    }
    fn summary(&self) -> &'static str {
        "every host, names as written"
    }
    fn hosts(&self) -> &'static [&'static str] {
        &[]
    }
    fn is_catch_all(&self) -> bool {
        true
    }
    fn normalize(&self, r: &Reference) -> drag_core::Result<Target> {
        let registry = r.domain().unwrap_or("localhost:5000").to_string();
        let name = ImageName {
            familiar: familiar_name(&registry, r.path(), None),
            repository: r.path().to_string(),
            registry,
        };
        Ok(Target::new(name, r))
    }
}
impl Authenticator for AnyRegistry {}
impl Resolver for AnyRegistry {}
impl ManifestQuirks for AnyRegistry {}
drag_core::inventory::submit! { Registration(&AnyRegistry) }

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(image), Some(out)) = (args.next(), args.next()) else {
        eprintln!("usage: pull IMAGE OUTPUT.tar");
        std::process::exit(2);
    };
    let mut opts = PullOptions::new(vec![image]);
    opts.output = Some(Destination::Path(out.into()));
    let progress = FnProgress(|e: Event| {
        if let Event::BlobDone { digest, cached } = e {
            eprintln!("{digest} {}", if cached { "cached" } else { "downloaded" });
        }
    });
    match drag_core::pull(&opts, &progress).await {
        Ok(report) => println!("{} {}", report.output, report.images[0].digest),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

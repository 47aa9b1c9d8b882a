//! `drag inspect`: JSON about an image on stdout, or the manifest bytes with `--raw`.

use std::io::Write;

use drag_core::inspect::{self, InspectOptions};
use drag_core::platform::Platform;
use drag_core::pull::Cache;

use crate::args::InspectArgs;

pub async fn run(args: InspectArgs) -> anyhow::Result<()> {
    let opts = InspectOptions {
        image: args.image.clone(),
        registry: super::registry_options(&args.registry)?,
        platform: args
            .platform
            .as_deref()
            .map(str::parse::<Platform>)
            .transpose()
            .map_err(drag_core::Error::from)?,
        cache: Cache::default(),
    };
    let mut out = std::io::stdout().lock();
    if args.raw {
        out.write_all(&inspect::raw_manifest(&opts).await?)?;
    } else {
        serde_json::to_writer_pretty(&mut out, &inspect::inspect(&opts).await?)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}

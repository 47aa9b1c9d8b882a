//! `drag pull`: the CLI side of the pull pipeline (options in, progress and a summary out).

use std::path::Path;

use drag_core::platform::Platform;
use drag_core::pull::Cache;
use drag_core::{Destination, Error, Format, PullOptions};

use crate::args::{FormatArg, PullArgs};
use crate::render::{self, Renderer};

pub async fn run(args: PullArgs) -> anyhow::Result<()> {
    let opts = options(&args)?;
    let renderer = Renderer::new(args.quiet);
    let report = tokio::select! {
        r = drag_core::pull(&opts, &renderer) => r?,
        _ = super::interrupted() => {
            // Blocking writers see this and remove their temporary files; partial blobs
            // stay in the cache for the next run.
            drag_core::cancel_pulls();
            return Err(Error::Interrupted.into());
        }
    };
    renderer.finish();
    if !args.quiet {
        for image in &report.images {
            eprintln!(
                "{}: {}@{} ({})",
                report.output,
                image.reference,
                image.digest,
                render::human_bytes(image.size)
            );
        }
    }
    Ok(())
}

fn options(args: &PullArgs) -> Result<PullOptions, Error> {
    let mut opts = PullOptions::new(args.images.clone());
    opts.registry = super::registry_options(&args.registry)?;
    opts.platform = args
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()?;
    opts.format = match args.format {
        FormatArg::Docker => Format::Docker,
        FormatArg::Oci => Format::Oci,
        FormatArg::Rootfs => Format::Rootfs,
    };
    opts.decompress = args.decompress;
    opts.keep_zstd = args.keep_zstd;
    opts.all_platforms = args.all_platforms;
    opts.skip_foreign = args.skip_foreign;
    opts.oci_media_types = args.oci_media_types;
    opts.strip_privileges = args.strip_privileges;
    opts.output = args.output.as_deref().map(|p| {
        if p == Path::new("-") {
            Destination::Stdout
        } else {
            Destination::Path(p.to_path_buf())
        }
    });
    opts.jobs = args.jobs.max(1);
    if args.no_cache {
        opts.cache = Cache::Disabled;
    }
    Ok(opts)
}

//! `drag copy`: the CLI side of a registry-to-registry copy (options in, progress and a
//! summary out; the digest copied on stdout, as data).

use drag_core::platform::Platform;
use drag_core::{CopyOptions, Error};

use super::pull::Reporting;
use crate::args::CopyArgs;
use crate::render;

pub async fn run(args: CopyArgs) -> anyhow::Result<()> {
    let mut opts = options(&args)?;
    let Reporting {
        renderer,
        progress,
        notices,
    } = Reporting::new(args.quiet);
    opts.registry.notices = Some(notices.clone());
    opts.dest_registry.notices = Some(notices);
    let report = tokio::select! {
        r = drag_core::copy(&opts, &*progress) => r?,
        _ = super::interrupted() => return Err(Error::Interrupted.into()),
    };
    renderer.finish();
    if !args.quiet {
        let platform = report
            .platform
            .as_ref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        eprintln!("{}{platform} -> {}", report.source, report.dest);
        eprintln!(
            "{}",
            render::upload_summary(
                report.uploaded,
                report.bytes_uploaded,
                report.present,
                Some(report.mounted),
                report.foreign_skipped,
                report.manifests,
            )
        );
    }
    println!("{}", report.digest);
    Ok(())
}

fn options(args: &CopyArgs) -> Result<CopyOptions, Error> {
    let mut opts = CopyOptions::new(args.source.clone(), args.dest.clone());
    opts.registry = super::registry_options(&args.registry)?;
    opts.dest_registry = super::dest_registry(&opts.registry, args.dest_user.as_deref())?;
    opts.platform = args
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()?;
    opts.all_platforms = args.all_platforms;
    opts.include_foreign = args.include_foreign;
    opts.jobs = args.jobs;
    Ok(opts)
}

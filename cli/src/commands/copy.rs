//! `drag copy`: the CLI side of a registry-to-registry copy (options in, progress and a
//! summary out; the digest copied on stdout, as data).

use drag_core::auth::Credentials;
use drag_core::platform::Platform;
use drag_core::{CopyOptions, Error, RegistryOptions};

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
            "  {} blobs sent ({}), {} already there, {} mounted{}; {} manifests",
            report.uploaded,
            render::human_bytes(report.bytes_uploaded),
            report.present,
            report.mounted,
            match report.foreign_skipped {
                0 => String::new(),
                n => format!(", {n} foreign layers left at their URLs"),
            },
            report.manifests,
        );
    }
    println!("{}", report.digest);
    Ok(())
}

fn options(args: &CopyArgs) -> Result<CopyOptions, Error> {
    let mut opts = CopyOptions::new(args.source.clone(), args.dest.clone());
    opts.registry = super::registry_options(&args.registry)?;
    // The destination is reached by its own host: the source's adapter, endpoint and login
    // are the source's.
    opts.dest_registry = RegistryOptions {
        adapter: None,
        endpoint: None,
        credentials: args
            .dest_user
            .as_deref()
            .map(Credentials::parse)
            .transpose()?,
        ..opts.registry.clone()
    };
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

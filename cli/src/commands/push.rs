//! `drag push`: the CLI side of pushing an archive or layout (options in, progress and a
//! summary per image out; each pushed manifest's digest on stdout, as data).

use drag_core::auth::Credentials;
use drag_core::{Error, PushOptions};

use super::pull::Reporting;
use crate::args::PushArgs;
use crate::render;

pub async fn run(args: PushArgs) -> anyhow::Result<()> {
    let mut opts = options(&args)?;
    let Reporting {
        renderer,
        progress,
        notices,
    } = Reporting::new(args.quiet);
    opts.registry.notices = Some(notices);
    let report = tokio::select! {
        r = drag_core::push(&opts, &*progress) => r?,
        _ = super::interrupted() => return Err(Error::Interrupted.into()),
    };
    renderer.finish();
    for image in &report.images {
        if !args.quiet {
            eprintln!(
                "{} -> {}{}",
                args.source.display(),
                image.dest,
                if image.rewritten {
                    " (layers gzipped: a new manifest)"
                } else {
                    ""
                }
            );
            eprintln!(
                "{}",
                render::upload_summary(
                    image.uploaded,
                    image.bytes_uploaded,
                    image.present,
                    None,
                    image.foreign_skipped,
                    image.manifests,
                )
            );
        }
        println!("{}", image.digest);
    }
    Ok(())
}

fn options(args: &PushArgs) -> Result<PushOptions, Error> {
    let mut opts = PushOptions::new(args.source.clone());
    opts.dest = args.dest.clone();
    opts.to = args.to.clone();
    opts.image = args.image.clone();
    opts.registry = super::registry_options(&args.registry)?;
    if let Some(user) = &args.dest_user {
        opts.registry.credentials = Some(Credentials::parse(user)?);
    }
    opts.include_foreign = args.include_foreign;
    opts.jobs = args.jobs;
    // Next to the cache when there is one (often a larger disk than /tmp), else $TMPDIR.
    opts.scratch = drag_core::cache::default_dir().filter(|d| d.is_dir());
    Ok(opts)
}

//! `drag sync`: the CLI side of mirroring a list of images (list file in, progress and a
//! one-line summary on stderr, the JSON report to a file). Exits 1 when any image failed.

use std::path::{Path, PathBuf};

use drag_core::sync::{Status, SyncOptions, SyncReport, SyncTarget};
use drag_core::{Destination, Error, Format, PullOptions};

use super::pull::Reporting;
use crate::args::{FormatArg, SyncArgs};

pub async fn run(args: SyncArgs) -> anyhow::Result<()> {
    // The whole list is checked before any request.
    let entries = drag_core::sync::read(&args.list)?;
    let Reporting {
        renderer,
        progress,
        notices,
    } = Reporting::new(args.quiet);
    let mut opts = options(&args, entries)?;
    opts.registry.notices = Some(notices.clone());
    opts.dest_registry.notices = Some(notices);
    if let SyncTarget::Bundle(pull) = &mut opts.target {
        pull.registry = opts.registry.clone();
    }
    let report = tokio::select! {
        r = drag_core::sync::sync(&opts, &*progress) => r,
        _ = super::interrupted() => return Err(Error::Interrupted.into()),
    };
    renderer.finish();
    if let Some(path) = &args.report {
        write_report(path, &report)?;
    }
    for e in report.entries.iter().filter(|e| e.status == Status::Failed) {
        eprintln!(
            "drag: {}: {}",
            drag_core::terminal_text::escape(&e.source),
            e.error.as_deref().unwrap_or_default()
        );
    }
    let failed = report.count(Status::Failed);
    eprintln!(
        "drag sync: {} images: {} copied, {} skipped (already there), {} planned, {failed} failed",
        report.entries.len(),
        report.count(Status::Copied),
        report.count(Status::Skipped),
        report.count(Status::Planned),
    );
    if failed > 0 {
        anyhow::bail!("{failed} of {} images failed", report.entries.len());
    }
    Ok(())
}

fn options(args: &SyncArgs, entries: Vec<drag_core::sync::Entry>) -> Result<SyncOptions, Error> {
    let registry = super::registry_options(&args.registry)?;
    let dest_registry = super::dest_registry(&registry, args.dest_user.as_deref())?;
    let target = match (&args.to, &args.output) {
        (Some(to), _) => SyncTarget::Registry(to.clone()),
        (None, Some(out)) => SyncTarget::Bundle(Box::new(bundle(args, out)?)),
        (None, None) => return Err(Error::Usage("give --to HOST[/PREFIX] or -o BUNDLE".into())),
    };
    Ok(SyncOptions {
        entries,
        target,
        registry,
        dest_registry,
        dry_run: args.dry_run,
        jobs: args.jobs,
        include_foreign: args.include_foreign,
    })
}

fn bundle(args: &SyncArgs, out: &Path) -> Result<PullOptions, Error> {
    if out == Path::new("-") {
        return Err(Error::Usage(
            "drag sync writes its bundle to a file, not to standard output".into(),
        ));
    }
    let mut pull = PullOptions::new(Vec::new());
    pull.format = match args.format {
        FormatArg::Docker => Format::Docker,
        FormatArg::Oci => Format::Oci,
        FormatArg::Rootfs => {
            return Err(Error::Usage(
                "a bundle is a docker or oci archive; rootfs holds one image".into(),
            ))
        }
    };
    pull.output = Some(Destination::Path(PathBuf::from(out)));
    pull.jobs = args.jobs;
    pull.since = args.since.clone();
    Ok(pull)
}

fn write_report(path: &Path, report: &SyncReport) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(report)?;
    std::fs::write(path, json)
        .map_err(|e| Error::io(format!("writing the report {}", path.display()), e))?;
    Ok(())
}

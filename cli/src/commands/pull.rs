//! `drag pull`: the CLI side of the pull pipeline (options in, progress and a summary out).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use drag_core::platform::Platform;
use drag_core::progress::{Event, Progress};
use drag_core::pull::Cache;
use drag_core::{terminal_text, Destination, Error, Format, PullOptions};

use crate::args::{FormatArg, PullArgs};
use crate::notices::AsNotes;
use crate::render::{self, Renderer};

pub async fn run(args: PullArgs) -> anyhow::Result<()> {
    let mut opts = options(&args)?;
    let Reporting {
        renderer,
        progress,
        notices,
    } = Reporting::new(args.quiet);
    opts.registry.notices = Some(notices);
    let report = tokio::select! {
        r = drag_core::pull(&opts, &*progress) => r?,
        _ = super::interrupted() => {
            // Blocking writers see this and remove their temporary files; partial blobs
            // stay in the cache for the next run.
            drag_core::cancel_pulls();
            return Err(Error::Interrupted.into());
        }
    };
    renderer.finish();
    if !args.quiet {
        // The digest on a row of its own: with it, a line would not fit 80 columns.
        for image in &report.images {
            let platform = image
                .platform
                .as_ref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            eprintln!(
                "{}{platform}: {} in the registry",
                image.reference,
                render::human_bytes(image.size)
            );
            eprintln!("  digest {}", image.digest);
        }
        eprintln!("{}", written_line(&report.output, report.written));
    }
    Ok(())
}

/// The last line: what was really written (a `--decompress` archive is several times the
/// compressed size the registry served).
fn written_line(output: &Destination, bytes: u64) -> String {
    let size = format!("{} ({bytes} bytes)", render::human_bytes(bytes));
    match output {
        Destination::Stdout => format!("streamed {size} to standard output"),
        Destination::Path(p) => format!(
            "wrote {}: {size}",
            drag_core::terminal_text::escape(&p.display().to_string())
        ),
    }
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
    // As `docker save` does: a tar on a terminal is garbage on the screen, and its escape
    // sequences act on the terminal. (--format oci says why it cannot go to stdout at all.)
    if opts.output == Some(Destination::Stdout)
        && opts.format != Format::Oci
        && std::io::stdout().is_terminal()
    {
        return Err(Error::Usage(
            "refusing to write a tar to a terminal: redirect stdout or use -o FILE".into(),
        ));
    }
    opts.jobs = args.jobs;
    opts.since = args.since.clone();
    if args.no_cache {
        opts.cache = Cache::Disabled;
    }
    Ok(opts)
}

/// The longest note shown, as for the renderer's lines.
const MAX_NOTE_CHARS: usize = 1000;

/// What a command that moves images reports through: the renderer (bars, or nothing with
/// `-q`), the progress sink that keeps notes even when quiet, and the notices the HTTP layers
/// give (retries above the bars, and not at all with `-q`; warnings even then).
pub(super) struct Reporting {
    pub renderer: Arc<Renderer>,
    pub progress: Arc<NotesEvenWhenQuiet>,
    pub notices: Arc<dyn drag_core::http::notice::Notices>,
}

impl Reporting {
    pub fn new(quiet: bool) -> Reporting {
        let renderer = Arc::new(Renderer::new(quiet));
        let progress = Arc::new(NotesEvenWhenQuiet {
            renderer: renderer.clone(),
            quiet,
        });
        let notices = Arc::new(AsNotes {
            renderer: renderer.clone(),
            loud: progress.clone(),
        });
        Reporting {
            renderer,
            progress,
            notices,
        }
    }
}

/// `-q` silences progress, not what the user should know: notes (a warning that the cache is
/// not used, a fallback tag, a login not sent) are still one line each on stderr.
pub(super) struct NotesEvenWhenQuiet {
    pub renderer: Arc<Renderer>,
    pub quiet: bool,
}

impl Progress for NotesEvenWhenQuiet {
    fn event(&self, event: Event) {
        match event {
            Event::Note(note) if self.quiet => {
                eprintln!("{}", terminal_text::shown_up_to(&note, MAX_NOTE_CHARS));
            }
            other => self.renderer.event(other),
        }
    }
}

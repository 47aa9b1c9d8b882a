//! `drag inspect`: JSON about an image on stdout, or the manifest bytes with `--raw`.
//!
//! stdout is data and gets the bytes as they are, unless it is a terminal: then characters a
//! terminal would act on (a hostile registry's escape sequences) are shown escaped, the JSON
//! staying the same JSON (see [`drag_core::terminal_text`]).

use std::io::{IsTerminal, Write};

use drag_core::inspect::{self, InspectOptions};
use drag_core::platform::Platform;
use drag_core::pull::Cache;
use drag_core::terminal_text;

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
    let terminal = std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    if args.raw {
        let bytes = inspect::raw_manifest(&opts).await?;
        if terminal {
            let text = String::from_utf8_lossy(&bytes);
            out.write_all(terminal_text::escape_keeping_lines(&text).as_bytes())?;
        } else {
            out.write_all(&bytes)?;
        }
    } else {
        let json = serde_json::to_string_pretty(&inspect::inspect(&opts).await?)?;
        if terminal {
            writeln!(out, "{}", terminal_text::escape_json(&json))?;
        } else {
            writeln!(out, "{json}")?;
        }
    }
    out.flush()?;
    Ok(())
}

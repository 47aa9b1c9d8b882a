//! `drag serve`: the CLI side of serving archives and layouts as a registry. The images served
//! and the address go to stderr at startup, then one line per request; stdout stays empty (no
//! data is produced). Ctrl-C or SIGTERM stops it, letting requests in flight finish briefly.

use std::sync::Arc;
use std::time::Duration;

use drag_core::serve::{ServeLog, ServeOptions, Server};

use crate::args::ServeArgs;
use crate::render::count;

/// Request lines (unless quiet) and notes on stderr.
struct Stderr {
    quiet: bool,
}

impl ServeLog for Stderr {
    fn line(&self, line: &str) {
        let note =
            line.starts_with("error:") || line.starts_with("note:") || line.starts_with("stop");
        if note || !self.quiet {
            eprintln!("drag serve: {line}");
        }
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut opts = ServeOptions::new(args.paths.clone());
    opts.listen = args.listen;
    opts.tls = args.tls_cert.clone().zip(args.tls_key.clone());
    opts.htpasswd = args.htpasswd.clone();
    opts.keep_host = args.keep_host;
    opts.header_timeout = Duration::from_secs(args.header_timeout);
    opts.stall_timeout = Duration::from_secs(args.stall_timeout);
    opts.log = Arc::new(Stderr { quiet: args.quiet });
    let server = Server::bind(opts).await?;
    for image in server.images() {
        let missing = match image.missing_blobs {
            0 => String::new(),
            n => format!(" ({} in no source: they answer 404)", count(n, "blob")),
        };
        eprintln!("{} -> {}{missing}", image.name, image.digest);
    }
    let address = server.local_addr()?;
    eprintln!(
        "drag serve: {} on {}://{address}/ (read-only{}); Ctrl-C stops",
        count(server.images().len(), "image"),
        if server.is_tls() { "https" } else { "http" },
        if args.htpasswd.is_some() {
            ", logins required"
        } else {
            ""
        },
    );
    server.run(super::interrupted()).await?;
    Ok(())
}

//! One module per subcommand.

mod adapters;
mod bundle;
mod cache;
mod config;
mod copy;
mod inspect;
mod login;
mod pull;
mod push;
mod ratelimit;
mod serve;
mod sync;
mod tags;

use std::sync::Arc;
use std::time::Duration;

use drag_core::auth::Credentials;
use drag_core::http::retry::RetryPolicy;
use drag_core::http::trace::Trace;
use drag_core::patience::{LowSpeed, Patience};
use drag_core::RegistryOptions;

use crate::args::{Cli, Command, RegistryArgs};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Pull(args) => pull::run(args).await,
        Command::Adapters => adapters::run(),
        Command::Copy(args) => copy::run(args).await,
        Command::Push(args) => push::run(args).await,
        Command::Sync(args) => sync::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Bundle(cmd) => bundle::run(cmd),
        Command::Inspect(args) => inspect::run(args).await,
        Command::Tags(args) => tags::run(args).await,
        Command::Ratelimit(args) => ratelimit::run(args).await,
        Command::Cache(cmd) => cache::run(cmd),
        Command::Config(cmd) => config::run(cmd),
        Command::Login(args) => login::login(args).await,
        Command::Logout(args) => login::logout(args),
    }
}

/// The library's registry options from the command line.
/// The destination's options for a command that copies between registries: reached by its
/// own host, so the source's adapter, endpoint and login stay the source's; its login is
/// `--dest-user`, else what the auth files hold for it.
fn dest_registry(
    source: &RegistryOptions,
    dest_user: Option<&str>,
) -> Result<RegistryOptions, drag_core::Error> {
    Ok(RegistryOptions {
        adapter: None,
        endpoint: None,
        credentials: dest_user.map(Credentials::parse).transpose()?,
        ..source.clone()
    })
}

fn registry_options(a: &RegistryArgs) -> Result<RegistryOptions, drag_core::Error> {
    Ok(RegistryOptions {
        adapter: a.registry.clone(),
        endpoint: a.endpoint.clone(),
        insecure: a.insecure,
        cert_dir: a.cert_dir.clone(),
        // Read for every command that reaches a registry, so a broken file stops it before
        // any request.
        config: drag_core::RegistryConfig::from_environment()?,
        auth_file: a.authfile.clone(),
        credentials: a.user.as_deref().map(Credentials::parse).transpose()?,
        retry: RetryPolicy {
            retries: a.retries,
            ..RetryPolicy::default()
        },
        patience: Patience {
            header_timeout: Duration::from_secs(a.header_timeout.max(1)),
            read_timeout: Duration::from_secs(a.read_timeout.max(1)),
            low_speed: LowSpeed {
                bytes_per_sec: a.low_speed_limit,
                time: Duration::from_secs(a.low_speed_time.max(1)),
            },
        },
        trace: a.verbose.then(|| Arc::new(StderrTrace) as Arc<dyn Trace>),
        notices: Some(Arc::new(crate::notices::Stderr)),
    })
}

/// `-v`: each request's line on stderr, where messages go (stdout carries only data).
struct StderrTrace;

impl Trace for StderrTrace {
    fn line(&self, line: &str) {
        eprintln!("drag: http: {line}");
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

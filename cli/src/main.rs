//! `drag`: pull container images without a Docker daemon.
//!
//! The binary only parses arguments and hands over to a command; the work is in drag-core and
//! the adapters, which must be referenced here (through drag-adapters, which names them all)
//! or the linker drops their registration.
//!
//! Exit codes: 0 ok, 1 failed, 2 usage, 130 interrupted (see `failure`), and 141 when the
//! reader of drag's output closed it (see `stdout`), quietly, as a program killed by SIGPIPE.

use drag_adapters as _;

mod args;
mod commands;
mod failure;
mod malloc_arenas;
mod notices;
mod render;
mod stdout;

use clap::Parser;

fn main() -> std::process::ExitCode {
    malloc_arenas::limit();
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return parse_failure(&e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return failure::report(&anyhow::anyhow!("starting the runtime: {e}")),
    };
    let result = runtime.block_on(commands::run(cli));
    // Let blocking workers notice a cancellation and clean up before the process ends.
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if stdout::is_closed_pipe(&e) => {
            std::process::ExitCode::from(stdout::CLOSED_PIPE_EXIT)
        }
        Err(e) => failure::report(&e),
    }
}

/// clap's usage errors (exit 2), and `--help`/`--version`, whose text goes to standard output
/// and may fail as any output can (clap itself would ignore that and exit 0).
fn parse_failure(e: &clap::Error) -> std::process::ExitCode {
    let code = std::process::ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    match e.print() {
        Ok(()) => code,
        // A usage error that stderr would not take: nowhere left to say more.
        Err(_) if e.use_stderr() => code,
        Err(io) => {
            let e = anyhow::Error::from(drag_core::Error::io("writing to standard output", io));
            if stdout::is_closed_pipe(&e) {
                std::process::ExitCode::from(stdout::CLOSED_PIPE_EXIT)
            } else {
                failure::report(&e)
            }
        }
    }
}

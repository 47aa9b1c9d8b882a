//! `drag`: pull container images without a Docker daemon.
//!
//! The binary only parses arguments and hands over to a command; the work is in drag-core and
//! the adapters, which must be referenced here or the linker drops their registration.

use drag_adapter_dockerhub as _;
use drag_adapter_mcr as _;
use drag_adapter_oci as _;

mod args;
mod commands;
mod failure;
mod notices;
mod render;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
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
        Err(e) => failure::report(&e),
    }
}

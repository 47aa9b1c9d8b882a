//! Turning an error into one readable line on stderr and an exit code.
//!
//! 0 ok, 1 the pull failed (network, auth, not found, integrity), 2 usage, 130 interrupted.

use std::process::ExitCode;

use drag_core::Error;

pub fn report(e: &anyhow::Error) -> ExitCode {
    // Core errors already say their cause in one line; the chain would repeat it.
    match e.downcast_ref::<Error>() {
        Some(core) => eprintln!("drag: error: {core}"),
        None => eprintln!("drag: error: {e:#}"),
    }
    ExitCode::from(exit_code(e))
}

fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<Error>() {
        Some(Error::Interrupted) => 130,
        Some(core) if core.is_usage() => 2,
        _ => 1,
    }
}

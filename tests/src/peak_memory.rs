//! Running `drag` under GNU `time -v`, for the tests that bound its peak memory.
//!
//! Memory is the one resource those tests measure on the process as a whole: a peak RSS is
//! not stretched by a slow machine the way elapsed time is. `time -v` appends its report to
//! drag's stderr; it is cut off here so tests see drag's own lines.

use std::path::Path;
use std::time::Duration;

use crate::drag_cli::{drag_bin, run_with_timeout, with_drag_env, DragOutput};

/// What a measured run produced.
#[derive(Clone, Debug)]
pub struct Measured {
    /// drag's output, its stderr without the `time -v` report.
    pub out: DragOutput,
    /// The peak resident set size, in bytes.
    pub peak_rss: u64,
}

/// `time -v drag` with drag's test environment; the test adds drag's arguments.
/// `time` is the path `require_tool("time")` gave.
pub fn drag_under_time(time: &Path) -> std::process::Command {
    let mut command = with_drag_env(time);
    command.arg("-v").arg(drag_bin());
    command
}

/// Runs a [`drag_under_time`] command (killed after `timeout`) and splits its report off.
/// Panics when there is no report with a peak RSS.
pub fn run_measured(command: &mut std::process::Command, timeout: Duration) -> Measured {
    let out = run_with_timeout(command, timeout);
    let (own, report) = out
        .stderr
        .split_once("\tCommand being timed:")
        .unwrap_or_else(|| panic!("no `time -v` report in stderr:\n{}", out.stderr));
    let peak_rss = peak_rss(report)
        .unwrap_or_else(|| panic!("no peak RSS in the `time -v` report:\n{report}"));
    let stderr = own.to_string();
    Measured {
        out: DragOutput { stderr, ..out },
        peak_rss,
    }
}

/// The peak RSS in bytes that a `time -v` report states.
fn peak_rss(report: &str) -> Option<u64> {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_read_in_bytes_from_the_report() {
        let report = "\tUser time (seconds): 0.01\n\tMaximum resident set size (kbytes): 2048\n";
        assert_eq!(peak_rss(report), Some(2 << 20));
        assert_eq!(peak_rss("\tUser time (seconds): 0.01\n"), None);
    }
}

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use drag_tests::drag_cli::{run_with_timeout, try_drag_bin, BuildLayout};
use drag_tests::run;
use drag_tests::tools::skip;

#[test]
fn build_layout_comes_from_the_test_binary_path() {
    let test_exe = BuildLayout::of_exe(Path::new("/w/target/debug/deps/support_selftest-0a1b"));
    assert_eq!(test_exe.target_dir, PathBuf::from("/w/target"));
    assert_eq!(test_exe.profile_dir, PathBuf::from("/w/target/debug"));
    assert_eq!(test_exe.profile, "dev");

    let release = BuildLayout::of_exe(Path::new("/w/target/release/deps/x"));
    assert_eq!(release.profile_dir, PathBuf::from("/w/target/release"));
    assert_eq!(release.profile, "release");

    let current = BuildLayout::current();
    assert!(current.profile_dir.starts_with(&current.target_dir));
}

/// The CLI crate is written concurrently with these tests; a build broken
/// by work in progress elsewhere is reported, not failed on.
#[test]
fn drag_binary_is_built_into_this_profile() {
    match try_drag_bin() {
        Ok(path) => {
            assert!(path.is_file(), "{}", path.display());
            assert_eq!(path, BuildLayout::current().profile_dir.join("drag"));
            let command = drag_tests::drag();
            let envs: Vec<_> = command.get_envs().collect();
            let cache = envs
                .iter()
                .find(|(k, _)| *k == "DRAG_CACHE_DIR")
                .and_then(|(_, v)| *v)
                .expect("DRAG_CACHE_DIR is set");
            assert!(Path::new(cache).is_dir());
            assert!(envs.contains(&("NO_COLOR".as_ref(), Some("1".as_ref()))));
        }
        Err(message) => skip(format_args!("drag does not build right now:\n{message}")),
    }
}

#[test]
fn run_captures_status_and_both_streams() {
    let output = run(Command::new("sh").args(["-c", "printf out; printf err >&2; exit 3"]));
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(output.stdout, b"out");
    assert_eq!(output.stderr, "err");
    output.assert_failure();

    let ok = run(Command::new("sh").args(["-c", "true"]));
    ok.assert_success();
}

#[test]
#[should_panic(expected = "still running after")]
fn run_kills_commands_that_overrun_their_deadline() {
    run_with_timeout(Command::new("sleep").arg("30"), Duration::from_millis(200));
}

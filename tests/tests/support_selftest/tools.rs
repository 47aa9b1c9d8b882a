use drag_tests::require_tool;
use drag_tests::tools::{find_tool, REQUIRE_REAL_TOOLS_ENV};

#[test]
fn finds_installed_tools() {
    let sh = require_tool("sh").expect("every machine has sh");
    assert!(sh.is_absolute() && sh.ends_with("sh"));
}

#[test]
fn missing_tools_skip_or_fail_as_the_environment_says() {
    let name = "drag-tests-no-such-tool";
    assert_eq!(find_tool(name), None);
    if std::env::var(REQUIRE_REAL_TOOLS_ENV).as_deref() == Ok("1") {
        let panic = std::panic::catch_unwind(|| require_tool(name)).unwrap_err();
        let message = panic.downcast_ref::<String>().unwrap();
        assert_eq!(
            message,
            "required tool drag-tests-no-such-tool is missing (DRAG_REQUIRE_REAL_TOOLS=1)"
        );
    } else {
        assert_eq!(require_tool(name), None);
    }
}

//! Running one test in a process of its own, for the few tests that change state the whole
//! process shares with every test running beside it: environment variables (`set_var` while
//! another thread reads the environment or spawns `moat`), tracing's dispatchers and callsite
//! interest cache, and signal handlers (tokio's Ctrl-C handler stays installed until the process
//! exits).
//!
//! The test calls [`in_own_process`] first. In the test run that returns `false` after running the
//! same test binary again with only this test selected (and failing with that run's output unless
//! it passed); the caller then returns. In that second process it returns `true`, and the caller
//! runs its body there, alone.

/// Set in the child process: run the test's body here.
const CHILD: &str = "MOAT_TEST_IN_OWN_PROCESS";

/// `module` is the caller's `module_path!()` and `test` its function name.
#[must_use = "the body runs only when this returns true"]
pub fn in_own_process(module: &str, test: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    // libtest names a test by its module path without the crate name.
    let name = match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{test}"),
        None => test.to_string(),
    };
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(exe)
        .args([name.as_str(), "--exact", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // "1 passed": the name selected exactly this test (a wrong name would pass with 0 tests).
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed;"),
        "{name} in its own process: {}\n{stdout}\n{stderr}",
        out.status
    );
    false
}

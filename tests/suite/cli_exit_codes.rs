//! Exit codes pipelines can trust: a usage error (unknown flag, bad value, missing argument)
//! exits 1 for every command, never 2 — which is `plan --detailed-exitcode`'s "changes" (issue
//! 15: `moat plan … --detailed-exitcode --fromat markdown` exited 2 and a workflow that fails
//! only on 1 passed).

use assert_cmd::Command;
use clap::CommandFactory;

fn moat(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("moat")
        .unwrap()
        .args(args)
        .env("NO_COLOR", "1")
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap()
}

#[test]
fn an_unknown_flag_exits_1_for_every_command() {
    // Every subcommand clap knows, so a new one is covered without being listed here.
    let cli = moat::cli::Cli::command();
    let mut checked = 0;
    for sub in cli.get_subcommands() {
        let name = sub.get_name();
        let o = moat(&[name, "--no-such-flag"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(1),
            "moat {name} --no-such-flag: {err}"
        );
        assert!(err.contains("--no-such-flag"), "moat {name}: {err}");
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} subcommands");
}

#[test]
fn a_mistyped_flag_with_detailed_exitcode_exits_1_not_2() {
    let o = moat(&[
        "plan",
        "examples/quickstart.yaml",
        "--detailed-exitcode",
        "--fromat",
        "markdown",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("similar argument exists: '--format'"));
}

#[test]
fn a_bad_value_and_a_missing_argument_exit_1() {
    for args in [
        &["plan", "examples/quickstart.yaml", "--format", "yaml"][..],
        &["plan"][..],
        &["validate"][..],
        &[][..],
        &["no-such-command"][..],
    ] {
        let o = moat(args);
        assert_eq!(o.status.code(), Some(1), "moat {args:?}");
        assert!(o.stdout.is_empty(), "moat {args:?}: errors go to stderr");
    }
}

#[test]
fn help_and_version_exit_0_and_help_states_the_exit_codes() {
    let o = moat(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Exit codes (every command)"), "{out}");
    assert!(out.contains("usage error"), "{out}");
    assert_eq!(moat(&["--version"]).status.code(), Some(0));
    assert_eq!(moat(&["plan", "--help"]).status.code(), Some(0));
}

/// A reader that goes away (`moat schema | head -c 1`) ends moat's output quietly: exit 0 and no
/// panic (Rust's `print!` panics on a closed pipe, which exited 101 with a backtrace). The
/// blueprint schema is ~230 KB, more than a pipe holds, so the write does meet the closed pipe.
#[test]
fn a_closed_stdout_pipe_ends_the_output_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    for args in [&["schema"][..]] {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("moat"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read one byte, then close the pipe before the rest is written.
        let mut out = child.stdout.take().unwrap();
        let mut one = [0u8; 1];
        out.read_exact(&mut one).unwrap();
        drop(out);
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed().as_secs() < 30,
                "moat {args:?} did not exit"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(!err.contains("panicked"), "moat {args:?}: {err}");
        assert_eq!(status.code(), Some(0), "moat {args:?}: {err}");
    }
}

//! Every blueprint input is bounded (issue 21): files and imports must be regular files of at
//! most `MAX_BLUEPRINT_BYTES`, `MAX_TOTAL_BYTES` together; devices and FIFOs are refused at once,
//! with little memory, at the `imports:` entry that names them; an import that is not a
//! blueprint is reported without a word of its contents.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moat::blueprint::{self, Options, MAX_BLUEPRINT_BYTES, MAX_TOTAL_BYTES};

fn options() -> Options {
    Options {
        today: time::macros::date!(2026 - 11 - 22),
        expired_exceptions_are_errors: true,
    }
}

/// A valid blueprint of exactly `size` bytes (a comment pads it).
fn blueprint_of(size: u64) -> String {
    let head = "version: 1\n#";
    let mut s = String::from(head);
    s.push_str(&"x".repeat(size as usize - head.len() - 1));
    s.push('\n');
    assert_eq!(s.len() as u64, size);
    s
}

/// `moat validate FILE` output, with how long it took and the child's peak memory in bytes.
/// Call it from a small process (`in_own_process`): a child's `ru_maxrss` counts the memory of
/// the process it was forked from.
#[allow(clippy::zombie_processes)] // wait4 below reaps it (and returns its rusage)
fn validate_in_child(dir: &Path, file: &str) -> (String, Duration, u64) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["validate", file])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 reaps exactly this child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let took = start.elapsed();
    // Linux reports ru_maxrss in KiB.
    (out + &err, took, usage.ru_maxrss as u64 * 1024)
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn devices_and_fifos_as_imports_fail_at_once_with_little_memory() {
    if !crate::own_process::in_own_process(
        module_path!(),
        "devices_and_fifos_as_imports_fail_at_once_with_little_memory",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("pipe"));
    std::fs::create_dir(dir.path().join("subdir")).unwrap();
    let cases = [
        ("/dev/zero", "2:11", "it is a device, not a regular file"),
        ("/dev/urandom", "2:11", "it is a device, not a regular file"),
        ("pipe", "2:11", "it is a FIFO, not a regular file"),
        ("subdir", "2:11", "it is a directory, not a regular file"),
    ];
    for (import, at, why) in cases {
        let text = format!("version: 1\nimports: [{import}]\ninstances: []\n");
        std::fs::write(dir.path().join("fleet.yaml"), text).unwrap();
        // Time in this process (a child's start-up on a loaded machine is not what is measured);
        // peak memory in a child of its own (this process's high-water mark is shared).
        let start = Instant::now();
        let report = blueprint::load_with(&dir.path().join("fleet.yaml"), &options());
        let took = start.elapsed();
        let (out, _, peak) = validate_in_child(dir.path(), "fleet.yaml");
        println!(
            "security-limits: import {import}: refused in {took:?}, peak memory {} MB",
            peak / 1_000_000
        );
        let want = format!("fleet.yaml:{at}: error: cannot read import `{import}`: {why}");
        assert!(out.contains(&want), "{import}: {out}");
        let d = &report.diagnostics.0[0];
        assert_eq!((d.line, d.column), (2, 11), "{import}: {d}");
        assert!(d.message.ends_with(why), "{import}: {d}");
        assert!(took < Duration::from_secs(1), "{import} took {took:?}");
        assert!(peak < 100_000_000, "{import}: peak memory {peak} bytes");
    }
}

#[test]
fn devices_and_fifos_as_the_top_level_file_are_refused_at_1_1() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    for (path, why) in [
        (fifo.to_str().unwrap(), "a FIFO"),
        ("/dev/zero", "a device"),
    ] {
        let start = Instant::now();
        let report = blueprint::load_with(Path::new(path), &options());
        assert!(start.elapsed() < Duration::from_secs(1), "{path}");
        let d = &report.diagnostics.0[0];
        assert_eq!((d.line, d.column), (1, 1));
        assert_eq!(
            d.message,
            format!("cannot read the file: it is {why}, not a regular file")
        );
    }
}

#[test]
fn one_file_may_have_max_blueprint_bytes_and_not_one_more() {
    let dir = tempfile::tempdir().unwrap();
    let top = "version: 1\nimports: [big.yaml]\ninstances: []\n";
    std::fs::write(dir.path().join("fleet.yaml"), top).unwrap();
    std::fs::write(
        dir.path().join("big.yaml"),
        blueprint_of(MAX_BLUEPRINT_BYTES),
    )
    .unwrap();
    let report = blueprint::load_with(&dir.path().join("fleet.yaml"), &options());
    assert!(!report.diagnostics.has_errors(), "{}", report.diagnostics);

    std::fs::write(
        dir.path().join("big.yaml"),
        blueprint_of(MAX_BLUEPRINT_BYTES + 1),
    )
    .unwrap();
    let report = blueprint::load_with(&dir.path().join("fleet.yaml"), &options());
    let d = &report.diagnostics.0[0];
    assert_eq!((d.line, d.column), (2, 11), "{}", report.diagnostics);
    assert!(d.message.contains("larger than 1048576 bytes"), "{d}");

    // The top-level file too, read from disk or given as text.
    let top = dir.path().join("big.yaml");
    let report = blueprint::load_with(&top, &options());
    let d = &report.diagnostics.0[0];
    assert_eq!((d.line, d.column), (1, 1));
    assert!(d.message.contains("larger than 1048576 bytes"), "{d}");
    let text = blueprint_of(MAX_BLUEPRINT_BYTES + 1);
    let e = blueprint::load_str("big.yaml", &text).unwrap_err();
    assert!(e.to_string().contains("larger than 1048576 bytes"), "{e}");
    std::fs::write(&top, blueprint_of(MAX_BLUEPRINT_BYTES)).unwrap();
    let report = blueprint::load_with(&top, &options());
    assert!(!report.diagnostics.has_errors(), "{}", report.diagnostics);
}

#[test]
fn a_blueprint_and_its_imports_may_total_max_total_bytes_and_not_one_more() {
    let dir = tempfile::tempdir().unwrap();
    let full = (MAX_TOTAL_BYTES / MAX_BLUEPRINT_BYTES - 1) as usize;
    let mut top = String::from("version: 1\ninstances: []\nimports:\n");
    for i in 0..full {
        top.push_str(&format!("  - part{i}.yaml\n"));
        std::fs::write(
            dir.path().join(format!("part{i}.yaml")),
            blueprint_of(MAX_BLUEPRINT_BYTES),
        )
        .unwrap();
    }
    top.push_str("  - last.yaml\n");
    std::fs::write(dir.path().join("fleet.yaml"), &top).unwrap();
    let last_line = top.lines().count();
    let left = MAX_TOTAL_BYTES - full as u64 * MAX_BLUEPRINT_BYTES - top.len() as u64;

    std::fs::write(dir.path().join("last.yaml"), blueprint_of(left)).unwrap();
    let report = blueprint::load_with(&dir.path().join("fleet.yaml"), &options());
    assert!(!report.diagnostics.has_errors(), "{}", report.diagnostics);

    std::fs::write(dir.path().join("last.yaml"), blueprint_of(left + 1)).unwrap();
    let report = blueprint::load_with(&dir.path().join("fleet.yaml"), &options());
    let d = &report.diagnostics.0[0];
    assert_eq!((d.line, d.column), (last_line, 5), "{}", report.diagnostics);
    assert!(d.message.contains("exceed 8388608 bytes"), "{d}");
}

#[test]
fn an_import_that_is_not_a_blueprint_is_reported_without_its_contents() {
    const SENTINEL: &str = "SENTINEL-c0ffee-9d2f7c41";
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("keys.yaml", format!("{SENTINEL}: x\n")),
        ("values.yaml", format!("version: 1\npassword: {SENTINEL}\n")),
        ("list.yaml", format!("- {SENTINEL}\n")),
        (
            "scalar.txt",
            format!("root:x:0:0:{SENTINEL}:/root:/bin/bash\n"),
        ),
        ("syntax.yaml", format!("a: [{SENTINEL}\n")),
        ("tabs.yaml", format!("a:\n\t{SENTINEL}: 1\n")),
        ("noversion.yaml", format!("profiles:\n  {SENTINEL}: {{}}\n")),
    ];
    let mut top = String::from("version: 1\ninstances: []\nimports:\n");
    for (name, text) in &files {
        std::fs::write(dir.path().join(name), text).unwrap();
        top.push_str(&format!("  - {name}\n"));
    }
    std::fs::write(dir.path().join("fleet.yaml"), &top).unwrap();
    let (out, _, _) = validate_in_child(dir.path(), "fleet.yaml");
    assert!(!out.contains(SENTINEL), "{out}");
    assert!(!out.contains("c0ffee"), "{out}");
    for (i, (name, _)) in files.iter().enumerate() {
        let want = format!(
            "fleet.yaml:{}:5: error: `{name}` is not a moat blueprint",
            i + 4
        );
        assert!(out.contains(&want), "{want}\n{out}");
    }
}

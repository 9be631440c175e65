//! `moat apply` on a pseudo-terminal (openpty, 100 columns) against an emulator whose private
//! endpoint takes 2.5 s: the live board shows the instance's counts and the elapsed time of the
//! running operation, is cut to the terminal's width, and settles to a static line; with `-v
//! --no-color` the same apply on a terminal writes the timestamped log, without one escape byte.
//! Bounded: the child is killed after 60 s.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moat::emulator::{EmulatorConfig, EmulatorHandle};

use crate::support::e2e::{emulator_with, TOKEN};

const COLUMNS: u16 = 100;

/// (master, slave) of a new pseudo-terminal of `COLUMNS` x 40.
fn openpty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let ws = libc::winsize {
        ws_row: 40,
        ws_col: COLUMNS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors into the given ints; name and termios may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// Run `moat ARGS… --arm-endpoint <emu>` with stdin, stdout and stderr on a pseudo-terminal;
/// returns the exit code and everything it wrote to the terminal.
fn on_pty(emu: &EmulatorHandle, args: &[&str]) -> (Option<i32>, Vec<u8>) {
    let (master, slave) = openpty();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("moat"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("MOAT_ACCESS_TOKEN", TOKEN)
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env_remove("MOAT_ARM_ENDPOINT")
        .env_remove("RUST_LOG")
        .env_remove("COLUMNS")
        .args(args)
        .args(["--arm-endpoint", &emu.base_url()])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("moat starts");
    // Our copies of the slave are closed (moved into the Command, dropped with it): reads of the
    // master end (EIO) once the child has exited.
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::from(master);
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            assert!(all.len() < 8 << 20, "runaway output");
        }
        all
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("moat apply on a terminal took more than 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), reader.join().unwrap())
}

/// [`on_pty`], then stop the emulator (for `spawn_blocking`, which takes the handle).
fn on_pty_then_stop(emu: EmulatorHandle, args: &[&str]) -> (Option<i32>, Vec<u8>) {
    let r = on_pty(&emu, args);
    drop(emu);
    r
}

async fn slow_endpoint() -> EmulatorHandle {
    let mut cfg = EmulatorConfig::default();
    cfg.lro.durations.insert(
        "Microsoft.Network/privateEndpoints".into(),
        Duration::from_millis(2500),
    );
    emulator_with(cfg, "examples/quickstart-seed.json").await
}

/// The text a terminal would show on each line written, escapes and all (split at `\n`).
fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}

/// A line without the cursor movements the board draws with.
fn visible(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// `(done, total)` of a board line: `~ NAME [done/total] …`.
fn counts_in(line: &str) -> Option<(usize, usize)> {
    let inner = line.split('[').nth(1)?.split(']').next()?;
    let (d, t) = inner.split_once('/')?;
    Some((d.parse().ok()?, t.parse().ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_apply_on_a_terminal_shows_counts_and_elapsed_and_settles() {
    let emu = slow_endpoint().await;
    let (code, out) = tokio::task::spawn_blocking(move || {
        let r = on_pty(
            &emu,
            &["apply", "examples/quickstart.yaml", "--auto-approve"],
        );
        drop(emu);
        r
    })
    .await
    .unwrap();
    let all = lines(&out);
    let text = String::from_utf8_lossy(&out).to_string();
    assert_eq!(code, Some(0), "{text}");
    let board: Vec<String> = all
        .iter()
        .map(|l| visible(l))
        .filter(|l| l.starts_with("~ contoso-openai-prod ["))
        .collect();
    assert!(!board.is_empty(), "no live line: {text}");
    // The endpoint's operation runs 2.5 s: a live line shows a step (the endpoint, or one
    // waiting for it) running for more than a second, with the instance's done/total.
    let long = board.iter().find(|l| {
        l.contains("] ") && {
            // `~ NAME [d/t] ELAPSED STEP: STATE`
            let secs = l
                .split("] ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .unwrap_or("");
            secs.strip_suffix('s')
                .and_then(|s| s.parse::<f64>().ok())
                .is_some_and(|s| s >= 1.0)
        }
    });
    assert!(
        long.is_some(),
        "no elapsed time over 1 s on the endpoint: {board:#?}"
    );
    // Counts: done/total, one total, done rising to it.
    let counts: Vec<(usize, usize)> = board.iter().filter_map(|l| counts_in(l)).collect();
    assert_eq!(counts.len(), board.len(), "{board:#?}");
    let total = counts[0].1;
    assert!(total > 1 && counts.iter().all(|c| c.1 == total && c.0 < total));
    assert!(counts.windows(2).all(|w| w[0].0 <= w[1].0), "{counts:?}");
    assert!(
        all.iter()
            .any(|l| visible(l).contains("steps, ") && visible(l).contains(" running, ")),
        "the apply's counts line: {text}"
    );
    for l in all.iter().map(|l| visible(l)) {
        if l.starts_with("~ ")
            || l.starts_with("✓ ")
            || l.starts_with("  ") && l.contains(" steps, ")
        {
            assert!(
                l.chars().count() < usize::from(COLUMNS),
                "wider than the terminal: {l:?}"
            );
        }
    }
    // Settled: the last board line is the static one, and nothing redraws after it.
    let settled = all
        .iter()
        .map(|l| visible(l))
        .filter(|l| l.starts_with("✓ contoso-openai-prod ["))
        .collect::<Vec<_>>();
    assert_eq!(settled.len(), 1, "{text}");
    assert_eq!(counts_in(&settled[0]), Some((total, total)), "{settled:?}");
    assert!(settled[0].contains(" done in "), "{settled:?}");
    assert!(text.contains("\x1b[J"), "drawn in place on a terminal");
    assert!(text.contains("Apply complete"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_apply_on_a_terminal_with_no_color_writes_no_escape_byte() {
    let emu = slow_endpoint().await;
    let (code, out) = tokio::task::spawn_blocking(move || {
        let r = on_pty(
            &emu,
            &[
                "apply",
                "examples/quickstart.yaml",
                "--auto-approve",
                "-v",
                "--no-color",
            ],
        );
        drop(emu);
        r
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    assert_eq!(code, Some(0), "{text}");
    if let Some(at) = out.iter().position(|b| *b == 0x1b) {
        let from = at.saturating_sub(200);
        panic!(
            "an escape byte at {at}: {:?}",
            String::from_utf8_lossy(&out[from..(at + 40).min(out.len())])
        );
    }
    // The timestamped log, not the board, on a terminal with -v.
    assert!(
        text.contains("s] contoso-openai-prod/account/local-auth: done"),
        "{text}"
    );
    assert!(!text.contains("~ contoso-openai-prod ["), "{text}");
}

/// `moat audit` over a slow ARM (40 ms a request) on a terminal: a status line counts the reads
/// as they are done (never going down), and is cleared before the findings table is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_audit_on_a_terminal_counts_its_reads_then_clears_the_line() {
    let mut cfg = EmulatorConfig::default();
    cfg.faults.latency = Duration::from_millis(40);
    let emu = emulator_with(cfg, "examples/audit-seed.json").await;
    let args = [
        "audit",
        "--subscription",
        "2b9c4e71-6d3a-4f58-8e2b-9a1c7d5e3f60",
        "--parallelism",
        "4",
    ];
    let (code, out) = tokio::task::spawn_blocking(move || on_pty_then_stop(emu, &args))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    assert_eq!(code, Some(3), "findings exit 3: {text}");
    // Every redraw starts with `\r` and an erase-line escape; split on the erase.
    let draws: Vec<String> = text
        .split("\r\x1b[2K")
        .skip(1)
        .map(|d| d.split('\n').next().unwrap_or("").to_string())
        .collect();
    let reads: Vec<u64> = draws
        .iter()
        .filter_map(|d| d.strip_prefix("audit: "))
        .filter_map(|d| d.split(' ').next())
        .filter_map(|n| n.replace(',', "").parse().ok())
        .collect();
    assert!(
        reads.len() >= 2,
        "the line was drawn more than once: {draws:#?}"
    );
    assert!(reads.windows(2).all(|w| w[0] <= w[1]), "{reads:?}");
    assert!(*reads.last().unwrap() > 10, "{reads:?}");
    // The last erase clears the line: what follows it is the table, not a status line.
    let after = text.rsplit("\r\x1b[2K").next().unwrap_or("");
    assert!(!after.contains("audit: "), "{after}");
    assert!(after.contains("MOAT-NS-001"), "{after}");
}

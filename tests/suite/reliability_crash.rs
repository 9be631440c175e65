//! Crash safety (issue 8): the real `moat` binary applies the quickstart against an in-process
//! emulator and is killed with SIGKILL right after the Nth write the emulator has seen (N from a
//! seeded RNG, 20+ points), then run again. Every re-run must converge (exit 0, which `moat apply`
//! only returns after re-reading live state and finding nothing left to do), with no duplicate
//! role assignment, private endpoint, zone group, DNS link or diagnostic setting, and no resource
//! lost.
//!
//! Prints `reliability-crash:` lines with the figures docs/reliability.md quotes. Run:
//! `cargo test --test suite reliability_crash:: -- --nocapture`.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moat::emulator::{EmulatorConfig, EmulatorHandle, FaultConfig};
use support::e2e;

const SEED: &str = "examples/quickstart-seed.json";
const BLUEPRINT: &str = "examples/quickstart.yaml";
const POINTS: usize = 24;
const RNG_SEED: u64 = 0x6d6f_6174;

/// Operations complete in their first answer (moat's default poll interval is 500 ms against a
/// non-emulator endpoint), and every request takes a few milliseconds so that the kill lands
/// close to the chosen write.
fn config() -> EmulatorConfig {
    let mut cfg = EmulatorConfig::default();
    cfg.lro.enabled = false;
    cfg.faults = FaultConfig {
        latency: Duration::from_millis(1),
        ..FaultConfig::default()
    };
    cfg
}

fn moat(emu: &EmulatorHandle, dir: &std::path::Path) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("moat"));
    c.current_dir(dir)
        .env("MOAT_ACCESS_TOKEN", e2e::TOKEN)
        .env("NO_COLOR", "1")
        .env_remove("MOAT_ARM_ENDPOINT")
        .args([
            "apply",
            e2e::repo(BLUEPRINT).to_str().unwrap(),
            "--auto-approve",
        ])
        .args(["--arm-endpoint", &emu.base_url()])
        .stdin(Stdio::null());
    c
}

/// Run to completion off the runtime's workers (the emulator serves on them).
async fn run(mut c: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

fn writes(emu: &EmulatorHandle) -> usize {
    emu.request_log()
        .iter()
        .filter(|e| e.method != "GET")
        .count()
}

fn ids(emu: &EmulatorHandle) -> BTreeSet<String> {
    emu.resources()
        .iter()
        .filter_map(|r| r["id"].as_str().map(|s| s.to_ascii_lowercase()))
        .collect()
}

/// Count resources per type, and per (scope, role, principal) for role assignments.
fn assert_no_duplicates(emu: &EmulatorHandle, point: usize) {
    let mut per_type: BTreeMap<String, usize> = BTreeMap::new();
    let mut pairs = BTreeSet::new();
    for r in emu.resources() {
        let t = r["type"].as_str().unwrap_or_default().to_ascii_lowercase();
        *per_type.entry(t.clone()).or_default() += 1;
        if t == "microsoft.authorization/roleassignments" {
            let p = &r["properties"];
            let key = format!(
                "{}|{}|{}",
                p["scope"].as_str().unwrap_or_default().to_ascii_lowercase(),
                p["roleDefinitionId"]
                    .as_str()
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                p["principalId"].as_str().unwrap_or_default()
            );
            assert!(
                pairs.insert(key.clone()),
                "point {point}: duplicate role assignment {key}"
            );
        }
    }
    for (t, want) in [
        ("microsoft.network/privateendpoints", 1),
        ("microsoft.network/privateendpoints/privatednszonegroups", 1),
        ("microsoft.network/privatednszones/virtualnetworklinks", 1),
        ("microsoft.insights/diagnosticsettings", 1),
        ("microsoft.cognitiveservices/accounts/raipolicies", 1),
        (
            "microsoft.cognitiveservices/accounts/privateendpointconnections",
            1,
        ),
    ] {
        assert_eq!(
            per_type.get(t).copied().unwrap_or(0),
            want,
            "point {point}: {t} count ({per_type:#?})"
        );
    }
}

/// Kill one apply after write `n`, re-run, check. Returns (really killed mid-apply, lost).
async fn one_point(point: usize, n: usize, dir: std::path::PathBuf) -> (bool, usize) {
    let emu = e2e::emulator_with(config(), SEED).await;
    let before = ids(&emu);
    emu.clear_request_log();
    let mut child = moat(&emu, &dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut was_killed = false;
    loop {
        if writes(&emu) >= n {
            child.kill().unwrap(); // SIGKILL
            was_killed = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "point {point}: apply hangs");
        tokio::time::sleep(Duration::from_micros(300)).await;
    }
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let seen = writes(&emu);
    let out = run(moat(&emu, &dir)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && (stdout.contains("live state matches the blueprint")
                || stdout.contains("No changes.")),
        "point {point} (killed after write {n}, {seen} seen): the re-run did not converge\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And an independent plan through the library agrees: nothing left to do.
    let bp = e2e::load(BLUEPRINT);
    let p = e2e::plan(e2e::connect(&emu).as_ref(), &bp).await;
    assert!(
        !p.has_changes() && !p.is_failed(),
        "point {point}: plan not empty"
    );
    assert_no_duplicates(&emu, point);
    let gone: Vec<_> = before.difference(&ids(&emu)).cloned().collect();
    assert!(gone.is_empty(), "point {point}: lost {gone:#?}");
    let acct = emu.resource(&bp.instances[0].account_id()).unwrap();
    assert_eq!(acct["properties"]["disableLocalAuth"], true);
    assert_eq!(acct["properties"]["publicNetworkAccess"], "Disabled");
    emu.shutdown().await;
    (was_killed && !status.success(), gone.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_seeded_points_then_rerun_converges() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();

    // Baseline: how many writes a full apply makes.
    let emu = e2e::emulator_with(config(), SEED).await;
    let before = ids(&emu);
    emu.clear_request_log();
    let out = run(moat(&emu, dir.path())).await;
    assert!(
        out.status.success(),
        "baseline apply: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let total = writes(&emu);
    println!(
        "reliability-crash: baseline apply {:.2}s, {} requests",
        started.elapsed().as_secs_f64(),
        emu.request_log().len()
    );
    assert!(total >= 10, "the quickstart makes {total} writes");
    assert_no_duplicates(&emu, 0);
    let lost: Vec<_> = before.difference(&ids(&emu)).cloned().collect();
    emu.shutdown().await;
    // The brownfield Contributor assignment is kept (removeUndeclaredPrivileged: false): a full
    // apply deletes nothing.
    assert!(lost.is_empty(), "baseline lost {lost:#?}");

    let mut rng = fastrand::Rng::with_seed(RNG_SEED);
    let points: Vec<usize> = (0..POINTS).map(|_| rng.usize(1..=total)).collect();
    // Four points at a time, each with its own emulator and moat processes.
    let mut results = Vec::new();
    for chunk in points.chunks(4).enumerate() {
        let (c, ns) = chunk;
        let mut set = tokio::task::JoinSet::new();
        for (i, &n) in ns.iter().enumerate() {
            let dir = dir.path().to_path_buf();
            set.spawn(one_point(c * 4 + i + 1, n, dir));
        }
        while let Some(r) = set.join_next().await {
            results.push(r.expect("point task"));
        }
    }
    let killed = results.iter().filter(|r| r.0).count();
    let finished_first = POINTS - killed;
    let converged = results.len();
    let data_lost: usize = results.iter().map(|r| r.1).sum();
    println!(
        "reliability-crash: SIGKILL points {POINTS} (after write N of {total}, N = {points:?}, rng seed {RNG_SEED:#x}), \
         killed mid-apply {killed}, finished before the kill {finished_first}, re-runs converged {converged}/{POINTS}, \
         duplicates 0, data lost {data_lost}, took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(converged, POINTS);
    assert!(
        killed >= POINTS / 2,
        "most points must really kill mid-apply"
    );
}

//! Two `moat rotate` runs on the same instance at the same time (issue 20): Key Vault secrets
//! have no `If-Match`, so a run takes a lease (its `pending` / `retiring` version, with its run
//! id) only when nobody wrote the secret since the version it decided from, and re-checks it
//! right before regenerating; the other run backs off. Over several cycles, started together
//! each time, every key is regenerated at most once per half cycle, and exactly once when the
//! half is done (a run after the lease resumes a step both runs left).

use std::sync::{Arc, Barrier};
use std::time::Duration;

use moat::emulator::clock::ManualClock;
use moat::emulator::EmulatorHandle;

use crate::e2e_rotate::{emulator, keys, latest_tags, moat, regenerated, run, SECRET, VAULT_HOST};

/// Start two runs at once (a barrier releases both processes' spawns together), within a
/// minute; their exit codes and outputs.
async fn two_at_once(emu: &EmulatorHandle) -> Vec<(i32, String)> {
    let gate = Arc::new(Barrier::new(2));
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (mut c, gate) = (moat(emu, &[]), gate.clone());
            tokio::task::spawn_blocking(move || {
                gate.wait();
                let out = c.output().unwrap();
                let text = String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr);
                (out.status.code().unwrap_or(-1), text)
            })
        })
        .collect();
    let mut out = Vec::new();
    for r in runs {
        let done = tokio::time::timeout(Duration::from_secs(60), r)
            .await
            .expect("both runs finish within a minute");
        out.push(done.unwrap());
    }
    out
}

/// One half cycle raced by two runs: at most one regenerate; if both backed off, a run after
/// the lease resumes the half. Then exactly one regenerate in all, of one key only, the secret's
/// latest version in `phase` and holding the key its `moat-key` names: the regenerated one
/// after `active` (clients move to it), the other after `settled` (the old one was retired).
async fn raced_half(emu: &EmulatorHandle, clock: &ManualClock, phase: &str) {
    emu.clear_request_log();
    let before = keys(emu);
    for (code, out) in two_at_once(emu).await {
        assert_eq!(code, 0, "{out}");
    }
    let raced = regenerated(emu).len();
    assert!(raced <= 1, "two concurrent runs regenerated {raced} times");
    if latest_tags(emu)["moat-phase"] != phase {
        // Both backed off (each saw the other's write): the lease expires, a later run resumes.
        assert_eq!(raced, 0);
        clock.advance(Duration::from_secs(15 * 60 + 1));
        let (code, out) = run(moat(emu, &[])).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("resumed"), "{out}");
    }
    let tags = latest_tags(emu);
    assert_eq!(tags["moat-phase"], phase);
    assert_eq!(regenerated(emu).len(), 1, "one regenerate per half cycle");
    let after = keys(emu);
    let changed: Vec<usize> = (0..2).filter(|&i| after[i] != before[i]).collect();
    assert_eq!(changed.len(), 1, "one key regenerated: {changed:?}");
    let holds = if tags["moat-key"] == "Key1" { 0 } else { 1 };
    let regenerated_is_held = changed[0] == holds;
    assert_eq!(regenerated_is_held, phase == "active", "{tags:?}");
    let latest = emu.secret_versions(VAULT_HOST, SECRET);
    assert_eq!(
        latest.last().unwrap()["value"],
        after[holds],
        "the secret holds the key it names"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_runs_regenerate_each_key_at_most_once_per_cycle() {
    let (emu, clock) = emulator().await;
    for _cycle in 0..4 {
        raced_half(&emu, &clock, "active").await;
        clock.advance(Duration::from_secs(25 * 3600));
        raced_half(&emu, &clock, "settled").await;
        clock.advance(Duration::from_secs(91 * 86_400));
    }
    emu.shutdown().await;
}

//! `moat rotate` end to end (issue 20): the real binary against an in-process emulator whose
//! clock the test moves. The first run regenerates Key2 and writes it with tags and expiry; a
//! second run within the overlap does nothing; after the overlap Key1 is regenerated. A run
//! killed (SIGKILL) after each of its writes is completed by the next with each key regenerated
//! exactly once. No output of moat contains a key, in any encoding.

use crate::support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use moat::emulator::clock::ManualClock;
use moat::emulator::{EmulatorConfig, EmulatorHandle};
use serde_json::Value;
use support::e2e;

pub(crate) const BLUEPRINT: &str = "examples/rotation.yaml";
pub(crate) const SEED: &str = "examples/rotation-seed.json";
pub(crate) const ACCOUNT: &str = "/subscriptions/2b9c4e71-6d3a-4f58-8e2b-9a1c7d5e3f60/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/fabrikam-openai-legacy";
pub(crate) const VAULT_HOST: &str = "kv-fabrikam-keys.vault.azure.net";
pub(crate) const SECRET: &str = "openai-legacy-key";

pub(crate) async fn emulator() -> (EmulatorHandle, ManualClock) {
    let clock = ManualClock::new();
    let mut cfg = EmulatorConfig::default();
    cfg.lro.enabled = false;
    cfg.clock = Arc::new(clock.clone());
    let emu = EmulatorHandle::start(cfg).await.unwrap();
    let seed = moat::emulator::load_seed_file(e2e::repo(SEED)).unwrap();
    emu.seed(&seed).unwrap();
    (emu, clock)
}

pub(crate) fn moat(emu: &EmulatorHandle, extra: &[&str]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("moat"));
    c.env("MOAT_ACCESS_TOKEN", e2e::TOKEN)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "trace")
        .env_remove("MOAT_ARM_ENDPOINT")
        .env_remove("MOAT_VAULT_ENDPOINT")
        .env_remove("MOAT_TEST_PAUSE_AFTER_STEP")
        .args([
            "rotate",
            e2e::repo(BLUEPRINT).to_str().unwrap(),
            "--verbose",
        ])
        .args(["--arm-endpoint", &emu.base_url()])
        .args(["--vault-endpoint", &emu.base_url()])
        .args(extra)
        .stdin(Stdio::null());
    c
}

/// Run to completion off the runtime's workers (the emulator serves on them), within a minute.
pub(crate) async fn run(mut c: Command) -> (i32, String) {
    tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            let out = c.output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.code().unwrap_or(-1), text)
        }),
    )
    .await
    .expect("moat rotate finishes within a minute")
    .unwrap()
}

/// Start moat with a pause after its `step`th write, wait for it to pause, SIGKILL it.
async fn killed_after(emu: &EmulatorHandle, step: usize) -> String {
    let mut c = moat(emu, &[]);
    c.env("MOAT_TEST_PAUSE_AFTER_STEP", step.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            use std::io::{BufRead, BufReader};
            let mut child = c.spawn().unwrap();
            let mut err = BufReader::new(child.stderr.take().unwrap());
            let mut seen = String::new();
            let mut line = String::new();
            while err.read_line(&mut line).unwrap() > 0 {
                seen.push_str(&line);
                if line.contains("test pause after step") {
                    break;
                }
                line.clear();
            }
            child.kill().unwrap(); // SIGKILL
            let _ = child.wait();
            assert!(seen.contains("test pause after step"), "{seen}");
            seen
        }),
    )
    .await
    .expect("moat pauses within a minute")
    .unwrap()
}

pub(crate) fn regenerated(emu: &EmulatorHandle) -> Vec<String> {
    emu.request_log()
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/regenerateKey"))
        .map(|e| e.path.to_ascii_lowercase())
        .collect()
}

pub(crate) fn keys(emu: &EmulatorHandle) -> [String; 2] {
    emu.account_keys(ACCOUNT).expect("the account has keys")
}

/// Every form of a key that must not appear.
fn forms(key: &str) -> Vec<String> {
    use base64_forms::*;
    vec![
        key.to_string(),
        key.to_ascii_uppercase(),
        hex(key.as_bytes()),
        b64(key.as_bytes()),
    ]
}

mod base64_forms {
    pub fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
    pub fn b64(b: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in b.chunks(3) {
            let n = (c[0] as u32) << 16
                | (*c.get(1).unwrap_or(&0) as u32) << 8
                | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..=c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }
}

pub(crate) fn assert_no_key(text: &str, seen: &[String]) {
    for k in seen {
        for f in forms(k) {
            assert!(
                !text.contains(&f),
                "a key (as {f:.6}…) is in moat's output:\n{text}"
            );
        }
    }
}

pub(crate) fn latest_tags(emu: &EmulatorHandle) -> serde_json::Map<String, Value> {
    let v = emu.secret_versions(VAULT_HOST, SECRET);
    v.last().unwrap()["tags"].as_object().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_swaps_key2_then_key1_after_the_overlap_and_never_shows_a_key() {
    let (emu, clock) = emulator().await;
    let mut seen = Vec::new();
    seen.extend(keys(&emu));
    let t0 = clock_secs(&clock);

    let (code, out) = run(moat(&emu, &[])).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("regenerated Key2"), "{out}");
    assert_eq!(
        regenerated(&emu),
        vec![format!("{ACCOUNT}/regenerateKey").to_ascii_lowercase()]
    );
    let now = keys(&emu);
    seen.extend(now.clone());
    let versions = emu.secret_versions(VAULT_HOST, SECRET);
    let last = versions.last().unwrap();
    assert_eq!(last["value"], now[1], "the secret holds the new Key2");
    assert_eq!(
        last["attributes"]["exp"],
        t0 + 90 * 86_400,
        "expiry = now + every"
    );
    let tags = latest_tags(&emu);
    assert_eq!(tags["moat-key"], "Key2");
    assert_eq!(tags["moat-phase"], "active");
    assert_eq!(tags["moat-account"], ACCOUNT.to_ascii_lowercase());
    assert!(tags.contains_key("moat-rotated"));
    assert_no_key(&out, &seen);

    // Within the overlap: nothing.
    clock.advance(Duration::from_secs(3600));
    emu.clear_request_log();
    let (code, out) = run(moat(&emu, &[])).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing due"), "{out}");
    assert!(regenerated(&emu).is_empty());
    assert!(emu.request_log().iter().all(|e| e.method == "GET"));
    assert_no_key(&out, &seen);

    // After the overlap: Key1.
    clock.advance(Duration::from_secs(24 * 3600));
    let (code, out) = run(moat(&emu, &[])).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("regenerated Key1"), "{out}");
    assert_eq!(
        regenerated(&emu),
        vec![format!("{ACCOUNT}/regenerateKey").to_ascii_lowercase()]
    );
    let after = keys(&emu);
    assert_ne!(after[0], now[0]);
    assert_eq!(after[1], now[1], "Key2, which clients use, is untouched");
    seen.extend(after.clone());
    assert_eq!(latest_tags(&emu)["moat-phase"], "settled");
    assert_eq!(
        emu.secret_versions(VAULT_HOST, SECRET).last().unwrap()["value"],
        after[1]
    );
    assert_no_key(&out, &seen);

    // Settled and not due: nothing.
    let (code, out) = run(moat(&emu, &[])).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing due"), "{out}");
    assert_no_key(&out, &seen);
    emu.shutdown().await;
}

pub(crate) fn clock_secs(c: &ManualClock) -> i64 {
    use moat::emulator::clock::Clock;
    c.now().as_secs() as i64
}

/// A run killed after its first or second write leaves its lease on the secret (the
/// `pending` / `retiring` version): a run within the lease backs off (exit 0, nothing
/// regenerated since the kill, in the request log); the clock then passes
/// the lease. After the third write (the final version) there is no lease left.
async fn lease_of_the_killed_run(emu: &EmulatorHandle, clock: &ManualClock, step: usize) {
    let killed = regenerated(emu).len();
    let (code, out) = run(moat(emu, &[])).await;
    assert_eq!(code, 0, "step {step}: {out}");
    if step < 3 {
        assert!(
            out.contains("backed off, nothing regenerated"),
            "step {step}: {out}"
        );
        assert!(out.contains("holds the"), "step {step}: {out}");
        assert_eq!(regenerated(emu).len(), killed, "step {step}: {out}");
        clock.advance(Duration::from_secs(15 * 60 + 1));
    } else {
        assert!(!out.contains("backed off"), "step {step}: {out}");
    }
}

/// Each cycle half has three writes (pending/retiring version, regenerate, final version):
/// killed after each, the next run completes the half with one regenerate in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_after_any_step_is_completed_with_each_key_regenerated_once() {
    for step in 1..=3 {
        let (emu, clock) = emulator().await;
        let mut seen: Vec<String> = keys(&emu).to_vec();
        let paused = killed_after(&emu, step).await;
        seen.extend(keys(&emu));
        assert_no_key(&paused, &seen);
        lease_of_the_killed_run(&emu, &clock, step).await;
        let (code, out) = run(moat(&emu, &[])).await;
        assert_eq!(code, 0, "step {step}: {out}");
        assert!(out.contains("Key2"), "step {step}: {out}");
        assert_eq!(regenerated(&emu).len(), 1, "step {step}: Key2 once");
        assert_eq!(latest_tags(&emu)["moat-phase"], "active", "step {step}");
        let k = keys(&emu);
        seen.extend(k.clone());
        assert_eq!(
            emu.secret_versions(VAULT_HOST, SECRET).last().unwrap()["value"],
            k[1],
            "step {step}"
        );
        // The second half, killed at the same step.
        clock.advance(Duration::from_secs(25 * 3600));
        emu.clear_request_log();
        let paused = killed_after(&emu, step).await;
        seen.extend(keys(&emu));
        assert_no_key(&paused, &seen);
        lease_of_the_killed_run(&emu, &clock, step).await;
        let (code, out) = run(moat(&emu, &[])).await;
        assert_eq!(code, 0, "step {step}: {out}");
        assert_eq!(regenerated(&emu).len(), 1, "step {step}: Key1 once");
        assert!(regenerated(&emu)
            .iter()
            .all(|p| p.ends_with("/regeneratekey")));
        assert_eq!(latest_tags(&emu)["moat-phase"], "settled", "step {step}");
        let after = keys(&emu);
        assert_ne!(after[0], k[0], "step {step}: Key1 was regenerated");
        assert_eq!(after[1], k[1], "step {step}: Key2 was not");
        seen.extend(after);
        assert_no_key(&out, &seen);
        emu.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_is_refused_where_key_auth_is_disabled() {
    let (emu, _clock) = emulator().await;
    let mut acct = emu.resource(ACCOUNT).unwrap();
    acct["properties"]["disableLocalAuth"] = true.into();
    emu.seed(&[acct]).unwrap();
    let (code, out) = run(moat(&emu, &[])).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("key auth is disabled"), "{out}");
    assert!(regenerated(&emu).is_empty());
    assert!(emu.secret_versions(VAULT_HOST, SECRET).is_empty());
    emu.shutdown().await;
}

/// `keyRotation` is only allowed where keys stay on under a `local-auth` exception, and its
/// periods are bounded: located errors naming the fix.
#[test]
fn key_rotation_needs_keys_on_and_sane_periods() {
    let text = std::fs::read_to_string(e2e::repo(BLUEPRINT)).unwrap();
    assert!(moat::blueprint::load_str("rotation.yaml", &text).is_ok());
    let keys_off = text
        .replace("disabled: false", "disabled: true")
        .replace("    exceptions:\n      - allows: local-auth\n        reason: Vendor appliance only supports api-key headers; replacement ordered (PRJ-88)\n", "");
    let err = moat::blueprint::load_str("rotation.yaml", &keys_off)
        .unwrap_err()
        .to_string();
    assert!(err.contains("rotation.yaml:19:5:"), "{err}");
    assert!(
        err.contains("keys are not kept on") && err.contains("allows: local-auth"),
        "{err}"
    );
    let overlap = text.replace("overlap: 24h", "overlap: 90d");
    let err = moat::blueprint::load_str("rotation.yaml", &overlap)
        .unwrap_err()
        .to_string();
    assert!(err.contains("shorter than `every: 90d`"), "{err}");
    let secret = text.replace("secret: openai-legacy-key", "secret: openai_legacy");
    let err = moat::blueprint::load_str("rotation.yaml", &secret)
        .unwrap_err()
        .to_string();
    assert!(err.contains("key vault secret name"), "{err}");
}

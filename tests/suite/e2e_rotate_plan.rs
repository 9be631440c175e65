//! `moat plan` shows key rotation (issue 20) against the emulator: due (which key, since when)
//! in every rendering, never a change (after `apply`, `plan --detailed-exitcode` exits 0 with
//! "No changes."), and neither `apply` nor a saved plan replayed by `apply --plan` rotates.
//! Only an instance with `keyRotation` is read for it (two requests: the vault's ARM resource
//! and the secret's latest version). No output or plan file holds a key.

use std::process::{Command, Stdio};
use std::time::Duration;

use moat::emulator::EmulatorHandle;
use serde_json::Value;

use crate::e2e_rotate::{
    assert_no_key, clock_secs, emulator, keys, regenerated, run, ACCOUNT, BLUEPRINT,
};
use crate::support::e2e;

const HEAD: &str = "Due outside apply: key rotation";

fn moat_cmd(emu: &EmulatorHandle, args: &[&str]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("moat"));
    c.env("MOAT_ACCESS_TOKEN", e2e::TOKEN)
        .env("NO_COLOR", "1")
        .env_remove("MOAT_ARM_ENDPOINT")
        .env_remove("MOAT_VAULT_ENDPOINT")
        .args(args)
        .args(["--arm-endpoint", &emu.base_url()])
        .stdin(Stdio::null());
    c
}

fn plan(emu: &EmulatorHandle, blueprint: &str, extra: &[&str]) -> Command {
    let mut c = moat_cmd(emu, &["plan", blueprint]);
    c.args(["--vault-endpoint", &emu.base_url()]).args(extra);
    c
}

/// `--format json`: the document on stdout (stderr apart), parsed; within a minute.
async fn json_of(mut c: Command) -> (i32, String, Value) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || c.output().unwrap()),
    )
    .await
    .expect("moat plan finishes within a minute")
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (out.status.code().unwrap_or(-1), text, doc)
}

/// Writes to the account's keys or to any vault's data plane.
fn rotation_writes(emu: &EmulatorHandle) -> usize {
    emu.request_log()
        .iter()
        .filter(|e| {
            (e.method == "POST" && e.path.ends_with("/regenerateKey"))
                || (e.method == "PUT" && e.path.contains("/secrets/"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_rotation_due_apply_never_rotates_and_no_change_is_counted() {
    let (emu, clock) = emulator().await;
    let mut seen: Vec<String> = keys(&emu).to_vec();
    let bp = e2e::repo(BLUEPRINT).display().to_string();
    let dir = tempfile::tempdir().unwrap();

    // apply converges the instance and rotates nothing.
    let (code, out) = run(moat_cmd(&emu, &["apply", &bp, "--auto-approve"])).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(rotation_writes(&emu), 0, "apply rotated:\n{out}");
    let mut outputs = vec![out];

    // Never rotated: due now, Key2, in its own section; no change, exit 0.
    let (code, out) = run(plan(&emu, &bp, &["--detailed-exitcode"])).await;
    assert_eq!(code, 0, "a due rotation is not a change:\n{out}");
    assert!(out.contains(HEAD) && out.contains("No changes."), "{out}");
    assert!(
        out.contains("openai-legacy: openai-legacy-key (due, regenerates Key2)"),
        "{out}"
    );
    assert!(out.contains("never rotated"), "{out}");
    outputs.push(out);
    let (code, md) = run(plan(&emu, &bp, &["--format", "markdown"])).await;
    assert_eq!(code, 0, "{md}");
    assert!(
        md.contains(&format!("### {HEAD}")) && md.contains("| **due** | Key2 |"),
        "{md}"
    );
    outputs.push(md);
    let (code, json, doc) = json_of(plan(&emu, &bp, &["--format", "json"])).await;
    assert_eq!(code, 0, "{json}");
    assert_eq!(doc["has_changes"], false);
    let rot = &doc["plan"]["instances"][0]["rotation"];
    assert_eq!(
        (rot["status"].as_str(), rot["key"].as_str()),
        (Some("due"), Some("Key2"))
    );
    assert!(rot.get("at").is_none(), "never rotated has no date: {rot}");
    outputs.push(json);

    // A saved plan replayed by apply does not rotate either.
    let saved = dir.path().join("plan.json");
    let saved_s = saved.display().to_string();
    let (code, out) = run(plan(&emu, &bp, &["--out", &saved_s])).await;
    assert_eq!(code, 0, "{out}");
    emu.clear_request_log();
    let (code, out) = run(moat_cmd(
        &emu,
        &["apply", "--plan", &saved_s, "--auto-approve"],
    ))
    .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(rotation_writes(&emu), 0, "apply --plan rotated:\n{out}");
    outputs.push(out);
    outputs.push(std::fs::read_to_string(&saved).unwrap());

    // After a rotation: Key1 is scheduled for the end of the overlap.
    let t0 = clock_secs(&clock);
    let (code, out) = run(crate::e2e_rotate::moat(&emu, &[])).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(regenerated(&emu).len(), 1);
    seen.extend(keys(&emu));
    clock.advance(Duration::from_secs(3600));
    let (code, json, doc) = json_of(plan(
        &emu,
        &bp,
        &["--format", "json", "--detailed-exitcode"],
    ))
    .await;
    assert_eq!(code, 0, "{json}");
    let rot = &doc["plan"]["instances"][0]["rotation"];
    assert_eq!(rot["status"], "scheduled");
    assert_eq!(rot["key"], "Key1");
    let from = time::OffsetDateTime::parse(
        rot["at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    assert!(
        (from - (t0 + 86_400)).abs() <= 2,
        "Key1 from the end of the overlap: {rot}"
    );
    outputs.push(json);
    // After the overlap it is due, since the end of the overlap.
    clock.advance(Duration::from_secs(24 * 3600));
    let (code, out) = run(plan(&emu, &bp, &[])).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(due, regenerates Key1, since "), "{out}");
    outputs.push(out);

    for o in &outputs {
        assert_no_key(o, &seen);
    }
    emu.shutdown().await;
}

/// Plan's reads: the same blueprint without `keyRotation` makes exactly two requests fewer
/// (the vault's ARM resource and the secret), and none to a vault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_instances_with_key_rotation_read_their_secret() {
    let (emu, _clock) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(e2e::repo(BLUEPRINT)).unwrap();
    let cut = text
        .find("    keyRotation:")
        .expect("the example has keyRotation");
    let without = dir.path().join("no-rotation.yaml");
    std::fs::write(&without, &text[..cut]).unwrap();

    let count = |emu: &EmulatorHandle| {
        let log = emu.request_log();
        let vault = log
            .iter()
            .filter(|e| e.path.to_ascii_lowercase().contains("/vaults/"))
            .count();
        (log.len(), vault)
    };
    emu.clear_request_log();
    let (code, out) = run(plan(&emu, without.to_str().unwrap(), &[])).await;
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(HEAD), "{out}");
    let (plain, plain_vault) = count(&emu);
    assert_eq!(
        plain_vault, 0,
        "an instance without keyRotation read a vault"
    );

    emu.clear_request_log();
    let bp = e2e::repo(BLUEPRINT).display().to_string();
    let (code, out) = run(plan(&emu, &bp, &[])).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(HEAD), "{out}");
    let (with, with_vault) = count(&emu);
    assert_eq!(
        with,
        plain + 2,
        "keyRotation adds the vault and the secret, nothing else"
    );
    assert_eq!(with_vault, 2);
    let _ = ACCOUNT;
    emu.shutdown().await;
}

/// MOAT-IM-003 from the rotation seed: never rotated → one finding; just rotated → none; past
/// the period (emulator clock) → one, never waived (rotation is the exception's companion).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_reports_keys_older_than_the_period() {
    let (emu, clock) = emulator().await;
    let bp = e2e::repo(BLUEPRINT).display().to_string();
    let im003 = |doc: &Value| -> Vec<Value> {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["ruleId"] == "MOAT-IM-003")
            .cloned()
            .collect()
    };
    let audit = || {
        let mut c = moat_cmd(&emu, &["audit", &bp, "--format", "json"]);
        c.args(["--vault-endpoint", &emu.base_url()]);
        c
    };
    let mut seen: Vec<String> = keys(&emu).to_vec();

    let (_, text, doc) = json_of(audit()).await;
    let f = im003(&doc);
    assert_eq!(f.len(), 1, "{text}");
    assert!(f[0]["waivedBy"].is_null(), "{text}");
    assert!(f[0]["evidence"][0]["observed"]
        .as_str()
        .unwrap()
        .contains("never rotated"));
    let mut outputs = vec![text];

    let (code, out) = run(crate::e2e_rotate::moat(&emu, &[])).await;
    assert_eq!(code, 0, "{out}");
    seen.extend(keys(&emu));
    let (_, text, doc) = json_of(audit()).await;
    assert!(im003(&doc).is_empty(), "fresh keys: {text}");
    outputs.push(text);

    // Finish the cycle (Key1 after the overlap), then let the period pass.
    clock.advance(Duration::from_secs(25 * 3600));
    let (code, out) = run(crate::e2e_rotate::moat(&emu, &[])).await;
    assert_eq!(code, 0, "{out}");
    seen.extend(keys(&emu));
    clock.advance(Duration::from_secs(90 * 86_400));
    let (_, text, doc) = json_of(audit()).await;
    let f = im003(&doc);
    assert_eq!(f.len(), 1, "{text}");
    let why = f[0]["evidence"][0]["observed"].as_str().unwrap();
    assert!(why.contains("91d ago; period 90d"), "{why}");
    outputs.push(text);
    for o in &outputs {
        assert_no_key(o, &seen);
    }
    emu.shutdown().await;
}

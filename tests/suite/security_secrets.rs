//! Secrets (issue 8): a sentinel access token (MOAT_ACCESS_TOKEN) and sentinel account keys in the
//! emulator (listKeys would return them if anyone called it). Every output of moat is searched for
//! them: stdout and stderr of plan (text, markdown, JSON, with -vv) and apply (-vv, from a saved
//! plan and from the blueprint), the saved plan file, and the emulator's request log (in memory
//! and its JSON-lines file). Zero hits; and the request log proves moat never calls listKeys or
//! regenerateKey.
//!
//! Prints a `security-secrets:` line with the figures docs/reliability.md quotes. Run:
//! `cargo test --test suite security_secrets:: -- --nocapture`.

use crate::support;

use std::path::Path;
use std::process::{Command, Stdio};

use moat::emulator::{EmulatorConfig, EmulatorHandle};
use support::e2e;

const TOKEN: &str = "SENTINEL-TOKEN-7f3a9c2e5b1d4e6f8a0b";
const KEY1: &str = "SENTINELKEY1aa11bb22cc33dd44ee55ff66";
const KEY2: &str = "SENTINELKEY2ff66ee55dd44cc33bb22aa11";
const BLUEPRINT: &str = "examples/quickstart.yaml";

fn config(dir: &Path) -> EmulatorConfig {
    EmulatorConfig {
        state_file: Some(dir.join("state.json")),
        request_log_file: Some(dir.join("requests.jsonl")),
        ..EmulatorConfig::default()
    }
}

/// Seed the quickstart into a state file, then replace the account's keys with the sentinels.
async fn prepare_state(dir: &Path) {
    let emu = e2e::emulator_with(
        EmulatorConfig {
            state_file: Some(dir.join("state.json")),
            ..EmulatorConfig::default()
        },
        "examples/quickstart-seed.json",
    )
    .await;
    emu.shutdown().await;
    let path = dir.join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let keys = state["keys"].as_object_mut().expect("state has keys");
    assert!(!keys.is_empty(), "the seeded account has keys");
    for v in keys.values_mut() {
        *v = serde_json::json!([KEY1, KEY2]);
    }
    std::fs::write(&path, serde_json::to_string(&state).unwrap()).unwrap();
}

fn moat(emu: &EmulatorHandle, cwd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("moat"));
    c.current_dir(cwd)
        .env("MOAT_ACCESS_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "trace")
        .env_remove("MOAT_ARM_ENDPOINT")
        .args(args)
        .args(["--arm-endpoint", &emu.base_url()])
        .stdin(Stdio::null());
    c
}

async fn run(mut c: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_key_appears_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    prepare_state(dir.path()).await;

    // The sentinels are live: listKeys on a copy of the state returns them.
    {
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(
            dir.path().join("state.json"),
            copy.path().join("state.json"),
        )
        .unwrap();
        let emu = EmulatorHandle::start(EmulatorConfig {
            state_file: Some(copy.path().join("state.json")),
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let api = e2e::connect(&emu);
        let acct = e2e::load(BLUEPRINT).instances[0].account_id();
        let keys = api
            .post(
                &format!("{acct}/listKeys"),
                moat::resources::account::API_VERSION,
                None,
            )
            .await
            .expect("listKeys answers while local auth is on")
            .unwrap();
        assert_eq!(keys["key1"], KEY1);
        assert_eq!(keys["key2"], KEY2);
        emu.shutdown().await;
    }

    let emu = EmulatorHandle::start(config(dir.path())).await.unwrap();
    let bp = e2e::repo(BLUEPRINT);
    let bp = bp.to_str().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let plan_file = work.join("plan.json");
    let plan_file_s = plan_file.to_str().unwrap().to_string();

    let runs: Vec<(&str, Vec<&str>)> = vec![
        ("plan text -vv", vec!["-vv", "plan", bp]),
        (
            "plan markdown -vv",
            vec!["-vv", "plan", bp, "--format", "markdown"],
        ),
        ("plan json -vv", vec!["-vv", "plan", bp, "--format", "json"]),
        (
            "plan --out -vv",
            vec!["-vv", "plan", bp, "--out", &plan_file_s],
        ),
        (
            "apply --plan -vv",
            vec!["-vv", "apply", "--plan", &plan_file_s, "--auto-approve"],
        ),
        (
            "apply -vv (converged)",
            vec!["-vv", "apply", bp, "--auto-approve"],
        ),
        (
            "plan -v after apply",
            vec!["-v", "plan", bp, "--detailed-exitcode"],
        ),
    ];
    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, args) in &runs {
        let out = run(moat(&emu, &work, args)).await;
        let code = out.status.code();
        if name.starts_with("apply") || *name == "plan -v after apply" {
            assert_eq!(
                code,
                Some(0),
                "{name}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // -vv really logs every request (so the check below looks at real logs).
        if name.contains("-vv") {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("ARM request"),
                "{name}: no request log on stderr"
            );
        }
        outputs.push((format!("{name}: stdout"), out.stdout));
        outputs.push((format!("{name}: stderr"), out.stderr));
    }
    outputs.push(("saved plan".into(), std::fs::read(&plan_file).unwrap()));
    let log = emu.request_log();
    outputs.push((
        "request log (memory)".into(),
        serde_json::to_vec(&log).unwrap(),
    ));
    emu.shutdown().await;
    outputs.push((
        "request log (file)".into(),
        std::fs::read(dir.path().join("requests.jsonl")).unwrap(),
    ));
    // Anything moat left in its working directory.
    for entry in walk(&work) {
        outputs.push((entry.display().to_string(), std::fs::read(&entry).unwrap()));
    }

    let sentinels = [TOKEN, KEY1, KEY2, &TOKEN[..20], &KEY1[..20], &KEY2[..20]];
    let mut hits = Vec::new();
    let mut bytes = 0;
    for (name, data) in &outputs {
        bytes += data.len();
        let text = String::from_utf8_lossy(data);
        for s in sentinels {
            if text.contains(s) {
                hits.push(format!("{name} contains {s}"));
            }
        }
    }
    let key_calls = log
        .iter()
        .filter(|e| {
            let p = e.path.to_ascii_lowercase();
            p.ends_with("/listkeys") || p.ends_with("/regeneratekey")
        })
        .count();
    println!(
        "security-secrets: outputs scanned {} ({} bytes, {} moat runs, {} requests logged), secrets leaked {}, listKeys/regenerateKey calls {}",
        outputs.len(),
        bytes,
        runs.len(),
        log.len(),
        hits.len(),
        key_calls
    );
    assert!(hits.is_empty(), "secrets leaked: {hits:#?}");
    assert_eq!(key_calls, 0, "moat must never call listKeys/regenerateKey");
    assert!(log.len() > 50, "the runs really talked to the emulator");
    assert!(
        log.iter().any(|e| e.method == "PATCH"),
        "apply really wrote (local auth off)"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

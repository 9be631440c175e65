//! `moat emulator seed FILE` (issue 19): a brownfield seed from any blueprint. Every shipped
//! example blueprint, seeded from its own blueprint rather than its hand-made seed, converges on
//! the emulator: plan → apply → plan empty. And the binary writes a seed `--emulator --seed`
//! takes.

use crate::support;

use std::path::Path;

use assert_cmd::Command;
use moat::emulator::{EmulatorConfig, EmulatorHandle};
use support::e2e::*;

/// Every example blueprint (`examples/*.yaml` but the CI workflows).
fn example_blueprints() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(repo("examples"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(repo(&format!("examples/{name}"))).ok()?;
            (name.ends_with(".yaml") && text.contains("\ninstances:"))
                .then(|| format!("examples/{name}"))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn every_example_converges_from_the_seed_its_own_blueprint_makes() {
    let examples = example_blueprints();
    assert!(examples.len() >= 5, "{examples:?}");
    for ex in examples {
        let bp = load(&ex);
        let seed = moat::emulator::seed_from::brownfield(&bp);
        let emu = EmulatorHandle::start(EmulatorConfig::default())
            .await
            .expect("emulator starts");
        emu.seed(&seed)
            .unwrap_or_else(|e| panic!("{ex}: the seed loads: {e}"));
        let api = connect(&emu);
        let p = plan(api.as_ref(), &bp).await;
        assert!(
            !p.is_failed(),
            "{ex}: {}",
            moat::render::text::render(&p, false)
        );
        assert!(
            p.has_changes(),
            "{ex}: a brownfield seed has something to harden"
        );
        let report = apply(api.clone(), &p).await;
        assert!(report.ok(), "{ex}: {report:#?}");
        let again = plan(api.as_ref(), &bp).await;
        assert!(
            !again.has_changes() && !again.is_failed(),
            "{ex}: {}",
            moat::render::text::render(&again, false)
        );
        emu.shutdown().await;
    }
}

#[test]
fn the_binary_writes_a_seed_that_emulator_seed_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&root.join("examples"), &tmp.path().join("examples"));
    copy_dir(&root.join("blueprints"), &tmp.path().join("blueprints"));
    let run = |args: &[&str]| {
        Command::cargo_bin("moat")
            .unwrap()
            .current_dir(tmp.path())
            .env("NO_COLOR", "1")
            .env_remove("MOAT_ACCESS_TOKEN")
            .env_remove("MOAT_ARM_ENDPOINT")
            .args(args)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap()
    };
    let o = run(&["emulator", "seed", "examples/cmk.yaml"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let printed: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(printed.iter().any(|r| r["id"]
        .as_str()
        .is_some_and(|id| id.contains("/Microsoft.KeyVault/vaults/"))));
    let o = run(&[
        "emulator",
        "seed",
        "examples/cmk.yaml",
        "--out",
        "cmk-mine.json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("moat plan examples/cmk.yaml --emulator --seed cmk-mine.json"));
    let o = run(&[
        "apply",
        "examples/cmk.yaml",
        "--emulator",
        "--seed",
        "cmk-mine.json",
        "--auto-approve",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&[
        "plan",
        "examples/cmk.yaml",
        "--emulator",
        "--seed",
        "cmk-mine.json",
        "--detailed-exitcode",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // A blueprint with an error: located, exit 1, nothing printed on stdout.
    std::fs::write(
        tmp.path().join("bad.yaml"),
        "version: 1\ninstances: [{name: x}]\n",
    )
    .unwrap();
    let o = run(&["emulator", "seed", "bad.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bad.yaml:2:"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

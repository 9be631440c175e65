//! Bad input (issue 8): the blueprint loader and the saved-plan loader never panic, whatever they
//! are given. The fuzz targets of `fuzz/` (same functions, included with `#[path]`) run here as
//! proptests in the normal test suite: arbitrary bytes, and mutations of real blueprints and real
//! saved plans. And a saved plan edited by hand is refused by `moat apply --plan` (digest) before
//! anything is sent to ARM.

use crate::support;

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::process::{Command, Stdio};

use proptest::prelude::*;
use support::e2e;

fn seed_blueprints() -> Vec<Vec<u8>> {
    let mut v = targets::read_dir_files(&e2e::repo("examples"), "yaml");
    v.extend(targets::read_dir_files(&e2e::repo("blueprints"), "yaml"));
    assert!(v.len() >= 3);
    v
}

fn seed_plan() -> Vec<u8> {
    static PLAN: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PLAN.get_or_init(render_seed_plan).clone()
}

fn render_seed_plan() -> Vec<u8> {
    let inst = support::strict_instance();
    let obs = support::brownfield_observed(&inst);
    let plan = moat::plan::plan(
        &support::blueprint(vec![inst]),
        &moat::observe::Observed {
            instances: vec![obs],
        },
    );
    moat::render::json::render(&plan).into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn blueprint_loader_never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        targets::blueprint_loader(&data);
    }

    #[test]
    fn blueprint_loader_never_panics_on_mutated_blueprints(seed in any::<u64>(), which in 0usize..64) {
        let seeds = seed_blueprints();
        let mut rng = targets::Rng::new(seed);
        let input = targets::mutate(&mut rng, &seeds[which % seeds.len()]);
        targets::blueprint_loader(&input);
    }

    #[test]
    fn saved_plan_loader_never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        targets::saved_plan(&data);
    }

    #[test]
    fn saved_plan_loader_never_panics_on_mutated_plans(seed in any::<u64>()) {
        let plan = seed_plan();
        let mut rng = targets::Rng::new(seed);
        let input = targets::mutate(&mut rng, &plan);
        targets::saved_plan(&input);
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any edit inside the plan body of a saved plan is detected: the digest no longer matches.
    #[test]
    fn any_edit_of_a_saved_plan_is_refused(pos in any::<usize>(), byte in any::<u8>()) {
        let text = String::from_utf8(seed_plan()).unwrap();
        let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let plan_text = serde_json::to_string(&doc["plan"]).unwrap();
        // Replace one character of a string value inside the plan with another letter.
        let bytes = plan_text.as_bytes();
        let letters: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i].is_ascii_alphanumeric()).collect();
        let i = letters[pos % letters.len()];
        let new = b'a' + byte % 26;
        prop_assume!(bytes[i] != new);
        let mut edited = bytes.to_vec();
        edited[i] = new;
        let Ok(plan_value) = serde_json::from_slice::<serde_json::Value>(&edited) else {
            return Ok(());
        };
        doc["plan"] = plan_value;
        let out = serde_json::to_string_pretty(&doc).unwrap();
        let r = moat::render::json::load("edited.json", &out);
        prop_assert!(
            matches!(r, Err(moat::render::json::LoadError::Tampered { .. })),
            "an edited plan was accepted: {:?}", r.map(|_| ())
        );
    }
}

/// Inputs known to hurt YAML and JSON parsers: deep nesting, alias bombs, huge numbers, odd
/// encodings. None may panic, overflow the stack, or hang.
#[test]
fn adversarial_inputs_are_rejected_cleanly() {
    let deep_flow = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let deep_block: String = (0..3_000)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    let laughs =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n\
                  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n\
                  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n\
                  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n\
                  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n\
                  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n\
                  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n\
                  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n\
                  version: 1\ninstances: *h\n";
    let cases: Vec<(&str, String)> = vec![
        ("deep flow nesting", deep_flow.clone()),
        ("deep block nesting", deep_block),
        ("alias bomb", laughs.into()),
        (
            "self import",
            "version: 1\nimports: [fuzz.yaml]\ninstances: []\n".into(),
        ),
        (
            "import outside",
            "version: 1\nimports: [/etc/passwd]\ninstances: []\n".into(),
        ),
        ("huge number", "version: 1e999999\ninstances: []\n".into()),
        ("nul bytes", "version: 1\n\0\0\0instances: [\0]\n".into()),
        (
            "bom and tabs",
            "\u{feff}version:\t1\ninstances:\n\t- x\n".into(),
        ),
        (
            "many documents",
            "---\nversion: 1\n---\nversion: 1\n".into(),
        ),
        (
            "binary tag",
            "version: !!binary AAAA\ninstances: []\n".into(),
        ),
        ("merge key loop", "a: &a {<<: *a}\n".into()),
        ("empty", String::new()),
    ];
    for (name, text) in &cases {
        let started = std::time::Instant::now();
        let r = std::panic::catch_unwind(|| targets::blueprint_loader(text.as_bytes()));
        assert!(r.is_ok(), "blueprint loader panicked on {name}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{name} took {:?}",
            started.elapsed()
        );
    }
    for (name, text) in [
        ("deep json", deep_flow),
        (
            "huge digest",
            format!(
                "{{\"format_version\":1,\"digest\":\"{}\"}}",
                "a".repeat(1 << 20)
            ),
        ),
        (
            "plan null",
            "{\"format_version\":1,\"plan\":null,\"digest\":\"\"}".into(),
        ),
        ("wrong version", "{\"format_version\":99}".into()),
        ("negative version", "{\"format_version\":-1}".into()),
    ] {
        let r = std::panic::catch_unwind(|| targets::saved_plan(text.as_bytes()));
        assert!(r.is_ok(), "saved-plan loader panicked on {name}");
    }
}

/// Through the CLI: `moat plan --out`, edit the saved plan by hand (turn key auth back on in the
/// write body, keeping the file valid JSON), `moat apply --plan` refuses with the digest error and
/// sends nothing to ARM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edited_saved_plan_is_refused_by_apply() {
    let mut cfg = moat::emulator::EmulatorConfig::default();
    cfg.lro.enabled = false;
    let emu = e2e::emulator_with(cfg, "examples/quickstart-seed.json").await;
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.json");
    let moat = |args: Vec<String>| {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("moat"));
        c.current_dir(dir.path())
            .env("MOAT_ACCESS_TOKEN", e2e::TOKEN)
            .env("NO_COLOR", "1")
            .env_remove("MOAT_ARM_ENDPOINT")
            .args(args)
            .args(["--arm-endpoint", &emu.base_url()])
            .stdin(Stdio::null());
        c
    };
    let run = |mut c: Command| async move {
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    };
    let out = run(moat(vec![
        "plan".into(),
        e2e::repo("examples/quickstart.yaml").display().to_string(),
        "--out".into(),
        plan_path.display().to_string(),
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&plan_path).unwrap();
    assert!(text.contains("\"disableLocalAuth\": true"));

    // The edit an attacker (or a tired operator) would make: key auth stays on.
    let edited = text.replacen(
        "\"disableLocalAuth\": true",
        "\"disableLocalAuth\": false",
        1,
    );
    std::fs::write(&plan_path, &edited).unwrap();
    emu.clear_request_log();
    let apply = || {
        vec![
            "apply".to_string(),
            "--plan".into(),
            plan_path.display().to_string(),
            "--auto-approve".into(),
        ]
    };
    let out = run(moat(apply())).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("was modified after moat wrote it (digest mismatch)"),
        "{stderr}"
    );
    assert!(
        emu.request_log().is_empty(),
        "nothing may be sent for an edited plan"
    );

    // The untouched plan applies.
    std::fs::write(&plan_path, &text).unwrap();
    let out = run(moat(apply())).await;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let acct = emu
        .resource(&e2e::load("examples/quickstart.yaml").instances[0].account_id())
        .unwrap();
    assert_eq!(acct["properties"]["disableLocalAuth"], true);
    emu.shutdown().await;
}

/// A saved plan is untrusted input like a blueprint (issue 21): `apply --plan` reads only a
/// regular file of bounded size, so `/dev/zero` or a FIFO is refused at once, not read forever.
#[test]
fn a_saved_plan_that_is_a_device_or_a_fifo_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("plan.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for plan in [std::path::PathBuf::from("/dev/zero"), fifo] {
        let t0 = std::time::Instant::now();
        let o = assert_cmd::Command::cargo_bin("moat")
            .unwrap()
            .args(["apply", "--auto-approve", "--plan"])
            .arg(&plan)
            .env("NO_COLOR", "1")
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{}: {err}", plan.display());
        assert!(
            err.contains("not a regular file"),
            "{}: {err}",
            plan.display()
        );
        assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    }
}

/// Terminal control characters from external strings never reach the terminal raw (issue 21):
/// a blueprint value with an escape sequence is refused and quoted escaped; a name that came
/// from live state (here a foreign NSG rule named with an escape sequence, deleted because the
/// blueprint removes undeclared rules) is escaped in the text and markdown renderings.
#[test]
fn escape_sequences_from_blueprints_and_live_state_are_never_printed_raw() {
    let yaml = std::fs::read_to_string("examples/quickstart.yaml")
        .unwrap()
        .replace(
            "description: Chat application (inference only, no keys)",
            "description: \"Chat \\e[2J\\e]0;pwned\\a application\"",
        );
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("esc.yaml");
    std::fs::write(
        &path,
        yaml.replace(
            "../blueprints/",
            &format!("{}/blueprints/", env!("CARGO_MANIFEST_DIR")),
        ),
    )
    .unwrap();
    let o = assert_cmd::Command::cargo_bin("moat")
        .unwrap()
        .args(["validate"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    let all = [o.stdout.clone(), o.stderr.clone()].concat();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&all)
    );
    assert!(
        !all.contains(&0x1b) && !all.contains(&0x07),
        "a raw control character was printed"
    );

    // From live state.
    let mut inst = support::strict_instance();
    inst.controls
        .nsg
        .as_mut()
        .unwrap()
        .spec
        .remove_undeclared_rules = true;
    let mut obs = support::hardened_observed(&inst);
    let rules = support::live(&mut obs, moat::resources::security_rule::read(&inst))["properties"]
        ["securityRules"]
        .as_array_mut()
        .unwrap();
    let mut evil = rules[0].clone();
    evil["name"] = "evil\u{1b}[2J\u{1b}]0;pwned\u{7}".into();
    evil["properties"]["priority"] = 3000.into();
    rules.push(evil);
    let p = moat::plan::plan(
        &support::blueprint(vec![inst]),
        &moat::observe::Observed {
            instances: vec![obs],
        },
    );
    assert!(
        p.changes().any(|c| c.address.contains('\u{1b}')),
        "the test needs a raw name"
    );
    for out in [
        moat::render::text::render(&p, false),
        moat::render::markdown::render(&p),
    ] {
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out}");
        assert!(
            out.contains("evil\\x1b[2J"),
            "the name is shown escaped: {out}"
        );
    }
}

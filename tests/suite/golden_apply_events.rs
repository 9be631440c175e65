//! `moat apply --format json` as a process against the emulator: every line validates against
//! `moat schema --apply-events`, steps go through their states in order, the summary is the last
//! line and agrees with the steps and the exit code, no token reaches the stream, and the stream
//! (times and request ids normalised, steps grouped by address) equals its golden file:
//! tests/golden/apply-events.*.jsonl (`UPDATE_GOLDEN=1 cargo test --test suite golden` rewrites).

use crate::support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use moat::emulator::EmulatorHandle;
use serde_json::{json, Value};
use support::e2e::*;

fn moat(emu: &EmulatorHandle, args: &[&str]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("moat"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("MOAT_ACCESS_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .env_remove("MOAT_ARM_ENDPOINT")
        .env_remove("RUST_LOG")
        .args(args)
        .args(["--arm-endpoint", &emu.base_url()])
        .stdin(Stdio::null());
    c
}

struct Run {
    code: Option<i32>,
    lines: Vec<Value>,
    stderr: String,
}

async fn apply_json(emu: &EmulatorHandle, extra: &[&str]) -> Run {
    let mut args = vec!["apply", "--auto-approve", "--format", "json"];
    args.extend_from_slice(extra);
    let mut c = moat(emu, &args);
    let out = tokio::task::spawn_blocking(move || c.output().expect("moat runs"))
        .await
        .expect("join");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "the token reached the output"
    );
    let lines = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("stdout holds only JSON lines: {l:?}: {e}\n{stderr}"))
        })
        .collect();
    Run {
        code: out.status.code(),
        lines,
        stderr,
    }
}

/// Everything the stream promises, checked on one run; returns the summary line.
fn check_stream(run: &Run) -> Value {
    let schema = moat::apply::events::schema();
    let v = jsonschema::draft202012::new(&schema).expect("the events schema is valid");
    for line in &run.lines {
        let errors: Vec<String> = v.iter_errors(line).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{line}: {errors:#?}");
    }
    let (summary, steps) = run.lines.split_last().expect("at least the summary line");
    assert_eq!(summary["type"], "summary", "the summary is the last line");
    assert!(
        steps.iter().all(|l| l["type"] == "step"),
        "one summary only"
    );
    assert_eq!(summary["exit_code"].as_i64().map(|c| c as i32), run.code);
    assert_eq!(summary["ok"], json!(run.code == Some(0)));
    let times: Vec<u64> = run
        .lines
        .iter()
        .map(|l| l["elapsed_ms"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // Per step: (waiting | started)* then done or failed (done right after started), or a
    // lone skipped.
    let mut by_step: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in steps {
        by_step
            .entry(s["address"].as_str().unwrap())
            .or_default()
            .push(s["state"].as_str().unwrap());
    }
    let mut ends: BTreeMap<&str, u64> = BTreeMap::new();
    for (address, states) in &by_step {
        let (last, before) = states.split_last().unwrap();
        let ok = match *last {
            "skipped" => before.is_empty(),
            "done" => before.last() == Some(&"started"),
            "failed" => !before.is_empty() || summary["outcome"] == "interrupted",
            _ => summary["outcome"] == "interrupted",
        } && before.iter().all(|s| matches!(*s, "waiting" | "started"));
        assert!(ok, "{address}: {states:?}");
        *ends.entry(last).or_default() += 1;
    }
    for (state, key) in [
        ("done", "applied"),
        ("failed", "failed"),
        ("skipped", "skipped"),
    ] {
        assert_eq!(
            summary[key].as_u64(),
            Some(ends.get(state).copied().unwrap_or(0)),
            "summary.{key}"
        );
    }
    // A failed step names ARM's request id when ARM answered.
    for s in steps.iter().filter(|s| s["state"] == "failed") {
        if let Some(id) = s.get("request_id").and_then(Value::as_str) {
            assert!(s["message"].as_str().unwrap().contains(id), "{s}");
        }
    }
    summary.clone()
}

/// The stream as its golden file holds it: times and request ids replaced, step lines grouped
/// by address (their order within a step kept; steps of different instances and branches
/// interleave differently from run to run), the summary last.
fn normalised(run: &Run) -> String {
    let mut lines: Vec<Value> = run.lines.clone();
    for l in &mut lines {
        l["elapsed_ms"] = json!(0);
        if let Some(id) = l
            .get("request_id")
            .and_then(Value::as_str)
            .map(String::from)
        {
            l["request_id"] = json!("<request-id>");
            if let Some(m) = l.get("message").and_then(Value::as_str) {
                l["message"] = json!(m.replace(&id, "<request-id>"));
            }
        }
    }
    let summary = lines.pop().unwrap();
    lines.sort_by(|a, b| a["address"].as_str().cmp(&b["address"].as_str()));
    lines.push(summary);
    lines
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<Vec<_>>()
        .concat()
}

fn check_golden(name: &str, actual: &str) {
    let path = repo(&format!("tests/golden/apply-events.{name}.jsonl"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
            .unified_diff()
            .header(&format!("{} (expected)", path.display()), "actual")
            .to_string();
        panic!("apply events differ from the golden file (UPDATE_GOLDEN=1 to accept):\n{diff}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_format_json_streams_the_quickstart_as_its_golden_file() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let run = apply_json(&emu, &["examples/quickstart.yaml"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = check_stream(&run);
    assert_eq!(summary["outcome"], "converged");
    // The human report moved to stderr; stdout is the stream alone.
    assert!(run.stderr.contains("Apply complete"), "{}", run.stderr);
    check_golden("quickstart", &normalised(&run));

    // Again: nothing to write, one summary line.
    let again = apply_json(&emu, &["examples/quickstart.yaml"]).await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(again.lines.len(), 1, "{:?}", again.lines);
    assert_eq!(check_stream(&again)["outcome"], "no-changes");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_format_json_reports_a_failed_step_and_its_skipped_dependents() {
    let emu = emulator("examples/quickstart-seed.json").await;
    emu.set_fault(moat::emulator::FaultConfig {
        fail_operations: vec![moat::emulator::FailRule {
            method: Some("PUT".into()),
            path_contains: "/privateEndpoints/contoso-openai-prod-pe".into(),
            outcome: moat::emulator::FailOutcome::Failed,
            // A server that echoes the caller's token into its error: it must not get out.
            code: "InternalServerError".into(),
            message: format!("injected endpoint failure (token {TOKEN})"),
            times: None,
        }],
        ..Default::default()
    });
    let run = apply_json(&emu, &["examples/quickstart.yaml"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let summary = check_stream(&run);
    assert_eq!(summary["outcome"], "incomplete");
    assert_eq!(
        (summary["failed"].as_u64(), summary["skipped"].as_u64()),
        (Some(1), Some(4))
    );
    let failed = run
        .lines
        .iter()
        .find(|l| l["state"] == "failed")
        .expect("a failed step");
    assert_eq!(failed["kind"], "private-endpoint");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("injected endpoint failure (token [redacted])"),
        "{failed}"
    );
    check_golden("endpoint-fails", &normalised(&run));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_format_json_ends_with_a_summary_even_on_an_error() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let run = apply_json(&emu, &["--plan", "tests/golden/no-such-plan.json"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.lines.len(), 1, "{:?}", run.lines);
    let summary = check_stream(&run);
    assert_eq!(summary["outcome"], "error");
    let message = summary["message"].as_str().unwrap();
    assert!(message.starts_with("error: "), "{message}");
    assert!(run.stderr.contains(message), "the same error as on stderr");

    // Without a terminal and without --auto-approve: refused, and the stream says so.
    let mut c = moat(
        &emu,
        &["apply", "examples/quickstart.yaml", "--format", "json"],
    );
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let last: Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (last["outcome"].as_str(), last["ok"].as_bool()),
        (Some("error"), Some(false))
    );
    assert!(
        last["message"].as_str().unwrap().contains("--auto-approve"),
        "{last}"
    );
    emu.shutdown().await;
}

/// Fleet isolation (issue 15) in the stream: the instance with a blocked change is named in
/// `held_back`, the rest converges, apply exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_format_json_names_the_instances_held_back() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let tmp = tempfile::tempdir().unwrap();
    // Next to the blueprints the quickstart imports.
    copy_dir(&repo("examples"), &tmp.path().join("examples"));
    copy_dir(&repo("blueprints"), &tmp.path().join("blueprints"));
    let fleet = tmp.path().join("examples/fleet-held.yaml");
    let text = std::fs::read_to_string(repo("examples/quickstart.yaml")).unwrap()
        + "  - name: contoso-openai-missing\n    subscription: 6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10\n    resourceGroup: rg-ai-prod\n    accountName: contoso-openai-missing\n    location: eastus\n    kind: OpenAI\n    controls:\n      localAuth: {}\n";
    std::fs::write(&fleet, text).unwrap();
    let run = apply_json(&emu, &[fleet.to_str().unwrap()]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let summary = check_stream(&run);
    assert_eq!(summary["outcome"], "held-back", "{summary}\n{}", run.stderr);
    assert_eq!(summary["held_back"], json!(["contoso-openai-missing"]));
    assert_eq!(summary["applied"], 22);
    assert!(run
        .lines
        .iter()
        .all(|l| l["type"] == "summary" || l["instance"] == "contoso-openai-prod"));
    emu.shutdown().await;
}

/// Ctrl-C in the stream: the write in flight is finished (`done`), what depends on it is not
/// started, and the summary says `interrupted` with exit 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_format_json_reports_an_interruption() {
    use std::time::{Duration, Instant};
    let mut cfg = moat::emulator::EmulatorConfig::default();
    cfg.lro.durations.insert(
        "Microsoft.Network/privateEndpoints".into(),
        Duration::from_millis(1500),
    );
    let emu = emulator_with(cfg, "examples/quickstart-seed.json").await;
    emu.clear_request_log();
    let mut c = moat(
        &emu,
        &[
            "apply",
            "examples/quickstart.yaml",
            "--auto-approve",
            "--format",
            "json",
        ],
    );
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("moat starts");
    let t0 = Instant::now();
    while !emu
        .request_log()
        .iter()
        .any(|e| e.method == "PUT" && e.path.ends_with("/privateEndpoints/contoso-openai-prod-pe"))
    {
        assert!(child.try_wait().unwrap().is_none(), "moat exited early");
        assert!(t0.elapsed() < Duration::from_secs(30), "no endpoint PUT");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .unwrap();
    let run = Run {
        code: out.status.code(),
        lines: String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(run.code, Some(130), "{}", run.stderr);
    let summary = check_stream(&run);
    assert_eq!(summary["outcome"], "interrupted");
    assert!(summary["not_started"].as_u64().unwrap() >= 1, "{summary}");
    assert!(run.lines.iter().any(|l| l["state"] == "done"
        && l["address"] == "contoso-openai-prod/private-endpoint/contoso-openai-prod-pe"));
    emu.shutdown().await;
}

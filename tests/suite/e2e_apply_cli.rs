//! `moat apply` as a process against an emulator that outlives it (in this test process): the
//! refusals (no terminal, stale saved plan), a process killed mid-apply, and Ctrl-C.

use crate::support;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use moat::emulator::{EmulatorConfig, EmulatorHandle};
use serde_json::json;
use support::e2e::*;

const APP: &str = "9d2f7c41-5b8e-4f3a-a6d2-7e1c0b9f8a34";

/// `moat ARGS… --arm-endpoint <emulator>` with a static token, no terminal on stdin.
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

async fn run(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().expect("moat runs"))
        .await
        .expect("join")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn writes(emu: &EmulatorHandle) -> usize {
    emu.request_log().iter().filter(|e| is_write(e)).count()
}

/// Start `moat apply --auto-approve` and return it once the emulator has seen `n` writes.
async fn start_apply_until(emu: &EmulatorHandle, n: usize) -> Child {
    start_apply_when(emu, |log| log.iter().filter(|e| is_write(e)).count() >= n).await
}

/// Start `moat apply --auto-approve` and return it once the request log satisfies `ready`.
async fn start_apply_when(
    emu: &EmulatorHandle,
    ready: impl Fn(&[moat::emulator::RequestLogEntry]) -> bool,
) -> Child {
    let mut c = moat(
        emu,
        &["apply", "examples/quickstart.yaml", "--auto-approve"],
    );
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("moat starts");
    let t0 = Instant::now();
    while !ready(&emu.request_log()) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("moat exited ({status}) before the awaited request");
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child
}

async fn converged(emu: &EmulatorHandle) -> bool {
    let api = connect(emu);
    let p = plan(api.as_ref(), &load("examples/quickstart.yaml")).await;
    !p.has_changes() && !p.is_failed()
}

/// Role assignments for the chat application, endpoints, and endpoint connections on the
/// account: one each, however many runs it took.
fn assert_no_duplicates(emu: &EmulatorHandle) {
    let all = emu.resources();
    let count = |f: &dyn Fn(&serde_json::Value) -> bool| all.iter().filter(|r| f(r)).count();
    assert_eq!(
        count(&|r| r["type"] == "Microsoft.Authorization/roleAssignments"
            && r["properties"]["principalId"] == APP),
        1,
        "role assignments for the app"
    );
    assert_eq!(
        count(&|r| r["type"] == "Microsoft.Network/privateEndpoints"),
        1,
        "private endpoints"
    );
    let acct = emu
        .resource(&load("examples/quickstart.yaml").instances[0].account_id())
        .unwrap();
    assert_eq!(
        acct["properties"]["privateEndpointConnections"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "endpoint connections"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_without_a_terminal_and_without_auto_approve_is_refused() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let c = moat(&emu, &["apply", "examples/quickstart.yaml"]);
    emu.clear_request_log();
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("no terminal"), "{err}");
    assert!(err.contains("--auto-approve"), "{err}");
    assert_eq!(writes(&emu), 0, "a refused apply wrote");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_saved_plan_is_refused_naming_what_changed() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("plan.json");
    let saved_s = saved.to_str().expect("utf-8 temp path");
    let c = moat(
        &emu,
        &["plan", "examples/quickstart.yaml", "--out", saved_s],
    );
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The saved plan is the JSON renderer's.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert!(v["format_version"].is_number());

    // Someone scales the deployment after the plan was made.
    let api = connect(&emu);
    let dep = format!(
        "{}/deployments/gpt-4o",
        load("examples/quickstart.yaml").instances[0].account_id()
    );
    api.patch(
        &dep,
        "2024-10-01",
        &json!({"sku": {"name": "GlobalStandard", "capacity": 20}}),
        moat::arm::Precondition::None,
    )
    .await
    .expect("second client PATCH");

    emu.clear_request_log();
    let c = moat(&emu, &["apply", "--auto-approve", "--plan", saved_s]);
    let out = run(c).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("stale"), "{err}");
    // The field that changed, with what the reviewer saw and what is live now; no etags.
    assert!(
        err.contains("contoso-openai-prod/deployment/gpt-4o: sku.capacity: saved plan")
            && err.contains(", now 20 "),
        "the refusal must name the changed field: {err}"
    );
    assert!(!err.contains("etag"), "{err}");
    assert!(
        err.trim_end().ends_with(
            "hint: run `moat plan` again (with `--out`), review the new plan, and apply that one"
        ),
        "{err}"
    );
    assert!(
        !err.contains("account/identity"),
        "unchanged resources are not named: {err}"
    );
    assert_eq!(writes(&emu), 0, "a stale plan was applied");

    // Planned again, the same path applies and converges.
    let c = moat(
        &emu,
        &["plan", "examples/quickstart.yaml", "--out", saved_s],
    );
    assert_eq!(run(c).await.status.code(), Some(0));
    let c = moat(&emu, &["apply", "--auto-approve", "--plan", saved_s]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Apply complete"));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_apply_is_converged_by_the_next_apply() {
    killed_after_then_reapplied(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_late_in_the_private_path_is_converged_by_the_next_apply() {
    killed_after_then_reapplied(9).await;
}

/// SIGKILL `moat apply` once the emulator has seen `n` writes, then apply again to the end.
async fn killed_after_then_reapplied(n: usize) {
    let emu = emulator("examples/quickstart-seed.json").await;
    emu.clear_request_log();
    let mut child = start_apply_until(&emu, n).await;
    child.kill().expect("kill");
    let _ = child.wait();
    let done_before = writes(&emu);
    assert!(!converged(&emu).await, "killed too late to prove anything");

    let c = moat(
        &emu,
        &["apply", "examples/quickstart.yaml", "--auto-approve"],
    );
    let out = run(c).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("Apply complete"), "{stdout}");
    assert!(converged(&emu).await);
    assert_no_duplicates(&emu);
    eprintln!(
        "killed after {done_before} writes; {} writes in all",
        writes(&emu)
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_scheduling_finishes_in_flight_writes_and_exits_non_zero() {
    // The endpoint takes 1.5 s: Ctrl-C arrives while it is in flight.
    let mut cfg = EmulatorConfig::default();
    cfg.lro.durations.insert(
        "Microsoft.Network/privateEndpoints".into(),
        Duration::from_millis(1500),
    );
    let emu = emulator_with(cfg, "examples/quickstart-seed.json").await;
    let pe_id = format!(
        "{}/providers/Microsoft.Network/privateEndpoints/contoso-openai-prod-pe",
        "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-ai-prod"
    );
    emu.clear_request_log();
    let child = start_apply_when(&emu, |log| {
        log.iter().any(|e| {
            e.method == "PUT" && e.path.ends_with("/privateEndpoints/contoso-openai-prod-pe")
        })
    })
    .await;
    let sent_at = Instant::now();
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .unwrap();
    let took = sent_at.elapsed();
    // The endpoint's operation was waited for, not abandoned: when moat exited it was done.
    let pe = emu.resource(&pe_id).expect("endpoint exists");
    assert_eq!(pe["properties"]["provisioningState"], "Succeeded");
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stderr.contains("Interrupted"), "{stderr}");
    assert!(
        stderr.contains("private-endpoint/contoso-openai-prod-pe: done"),
        "{stderr}"
    );
    // What depends on the endpoint was not started, and the summary says so.
    assert!(
        stdout.contains("not started contoso-openai-prod/account/local-auth"),
        "{stdout}"
    );
    assert!(stdout.contains("Run apply again"), "{stdout}");
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    assert!(
        !converged(&emu).await,
        "interrupted too late to prove anything"
    );
    let c = moat(
        &emu,
        &["apply", "examples/quickstart.yaml", "--auto-approve"],
    );
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(converged(&emu).await);
    assert_no_duplicates(&emu);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_imposed_by_arm_are_reported_to_the_user() {
    let mut cfg = EmulatorConfig::default();
    cfg.throttle.write_capacity = 3;
    cfg.throttle.write_refill_per_sec = 50;
    let emu = emulator_with(cfg, "examples/quickstart-seed.json").await;
    let c = moat(
        &emu,
        &["apply", "examples/quickstart.yaml", "--auto-approve"],
    );
    let out = run(c).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    // Depending on timing ARM answers 429 or moat's own limiter paces the writes from the
    // remaining-budget headers first; either way the user is told.
    assert!(stdout.contains("ARM made moat wait"), "{stdout}");
    assert!(stdout.contains("Apply complete"), "{stdout}");
    assert!(converged(&emu).await);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_names_failed_and_skipped_steps_and_exits_1() {
    let emu = emulator("examples/quickstart-seed.json").await;
    emu.set_fault(moat::emulator::FaultConfig {
        fail_operations: vec![moat::emulator::FailRule {
            method: Some("PUT".into()),
            path_contains: "/privateEndpoints/contoso-openai-prod-pe".into(),
            outcome: moat::emulator::FailOutcome::Failed,
            code: "InternalServerError".into(),
            message: "injected endpoint failure".into(),
            times: None,
        }],
        ..Default::default()
    });
    let c = moat(
        &emu,
        &["apply", "examples/quickstart.yaml", "--auto-approve"],
    );
    let out = run(c).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("Applied "))
        .expect("summary line");
    assert!(summary.contains(", 1 failed, 4 skipped"), "{summary}");
    assert!(
        stdout.contains("  failed  contoso-openai-prod/private-endpoint/contoso-openai-prod-pe"),
        "{stdout}"
    );
    assert!(stdout.contains("injected endpoint failure"), "{stdout}");
    for skipped in [
        "dns-zone-group/default",
        "account/network",
        "account/public-network-access",
        "account/local-auth",
    ] {
        assert!(
            stdout.contains(&format!(
                "  skipped contoso-openai-prod/{skipped}: depends on"
            )),
            "{skipped}: {stdout}"
        );
    }
    assert!(stdout.contains("Apply did not finish"), "{stdout}");
    // Unrelated steps went on: the deployment is bound to the strict policy.
    let dep = emu
        .resource(&format!(
            "{}/deployments/gpt-4o",
            load("examples/quickstart.yaml").instances[0].account_id()
        ))
        .unwrap();
    assert_eq!(
        dep["properties"]["raiPolicyName"],
        "strict-production-filter"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_behind_moats_back_is_reported_as_not_converged_with_exit_1() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let account = load("examples/quickstart.yaml").instances[0].account_id();
    let acct_lower = account.to_ascii_lowercase();
    emu.clear_request_log();
    // Wait for moat's last account write (key auth off, the fourth PATCH) ...
    let child = start_apply_when(&emu, |log| {
        log.iter()
            .filter(|e| e.method == "PATCH" && e.path.to_ascii_lowercase() == acct_lower)
            .count()
            >= 4
    })
    .await;
    // ... and turn public access back on while moat polls it: its re-observation must see it.
    let mut opts = moat::arm::ConnectOptions::emulator(emu.base_url(), TOKEN);
    opts.retry = moat::arm::RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        ..moat::arm::RetryPolicy::default()
    };
    let other = moat::arm::connect(&opts).unwrap();
    other
        .patch(
            &account,
            "2024-10-01",
            &json!({"properties": {"publicNetworkAccess": "Enabled"}}),
            moat::arm::Precondition::None,
        )
        .await
        .expect("second client PATCH");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("Apply did not converge"), "{stdout}");
    let tail = &stdout[stdout.find("Apply did not converge").unwrap()..];
    assert!(
        tail.contains("contoso-openai-prod/account/public-network-access"),
        "{tail}"
    );
    assert!(!stdout.contains("Apply complete"), "{stdout}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_stops_at_once() {
    let mut cfg = EmulatorConfig::default();
    cfg.lro.durations.insert(
        "Microsoft.Network/privateEndpoints".into(),
        Duration::from_secs(5),
    );
    let emu = emulator_with(cfg, "examples/quickstart-seed.json").await;
    emu.clear_request_log();
    let child = start_apply_when(&emu, |log| {
        log.iter().any(|e| {
            e.method == "PUT" && e.path.ends_with("/privateEndpoints/contoso-openai-prod-pe")
        })
    })
    .await;
    let pid = child.id().to_string();
    let t0 = Instant::now();
    for _ in 0..2 {
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill -INT")
            .success());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .unwrap();
    let took = t0.elapsed();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("Stopped at once"), "{stderr}");
    assert!(
        took < Duration::from_secs(4),
        "took {took:?}: it waited for the endpoint"
    );
    emu.shutdown().await;
}

/// An edit of a saved plan.
type Tamper = Box<dyn Fn(&mut moat::model::Plan)>;

/// Saved plans are approvals, not programs (issue 21): a plan edited and re-digested — a write
/// body granting another principal, a retargeted write, a changed action, an extra change — is
/// refused before any write request, naming the change; nothing from the file reaches ARM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_re_digested_saved_plan_is_refused_before_any_write() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("plan.json");
    let saved_s = saved.to_str().expect("utf-8 temp path");
    let out = run(moat(
        &emu,
        &["plan", "examples/quickstart.yaml", "--out", saved_s],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let original: moat::render::json::PlanDocument =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    const ROLE: &str = "contoso-openai-prod/role-assignment/";
    let tamperings: Vec<(&str, Tamper)> = vec![
        (
            "a write body granting Owner to another principal",
            Box::new(|p| {
                let c = p.instances[0]
                    .changes
                    .iter_mut()
                    .find(|c| c.address.starts_with(ROLE))
                    .unwrap();
                let b = c.write.as_mut().unwrap().body.as_mut().unwrap();
                b["properties"]["principalId"] = "00000000-0000-0000-0000-0000000000ff".into();
                b["properties"]["roleDefinitionId"] = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635".into();
            }),
        ),
        (
            "a write retargeted to another subscription",
            Box::new(|p| {
                let c = p.instances[0]
                    .changes
                    .iter_mut()
                    .find(|c| c.address.ends_with("/account/network"))
                    .unwrap();
                let w = c.write.as_mut().unwrap();
                w.path = w.path.replace(
                    "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10",
                    "11111111-2222-3333-4444-555555555555",
                );
            }),
        ),
        (
            "an update turned into a delete",
            Box::new(|p| {
                let c = p.instances[0]
                    .changes
                    .iter_mut()
                    .find(|c| c.address.ends_with("/account/network"))
                    .unwrap();
                c.action = moat::model::Action::Delete;
                c.write.as_mut().unwrap().method = moat::arm::Method::Delete;
            }),
        ),
        (
            "public access turned back on",
            Box::new(|p| {
                let c = p.instances[0]
                    .changes
                    .iter_mut()
                    .find(|c| c.address.ends_with("/account/public-network-access"))
                    .unwrap();
                c.write.as_mut().unwrap().body.as_mut().unwrap()["properties"]
                    ["publicNetworkAccess"] = "Enabled".into();
            }),
        ),
    ];
    for (what, tamper) in tamperings {
        let mut plan = original.plan.clone();
        tamper(&mut plan);
        // Re-digested: anyone who can write the artifact can recompute the checksum.
        std::fs::write(&saved, moat::render::json::render(&plan)).unwrap();
        emu.clear_request_log();
        let out = run(moat(&emu, &["apply", "--auto-approve", "--plan", saved_s])).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains("approves nothing"), "{what}: {err}");
        assert_eq!(writes(&emu), 0, "{what}: a tampered plan was applied");
    }
    // An extra change the reviewer never saw.
    let mut plan = original.plan.clone();
    let mut extra = plan.instances[0]
        .changes
        .iter()
        .find(|c| c.address.starts_with(ROLE))
        .unwrap()
        .clone();
    extra.address = format!("{ROLE}owner/00000000-0000-0000-0000-0000000000ff");
    plan.instances[0].changes.push(extra);
    std::fs::write(&saved, moat::render::json::render(&plan)).unwrap();
    emu.clear_request_log();
    let out = run(moat(&emu, &["apply", "--auto-approve", "--plan", saved_s])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(writes(&emu), 0, "an extra change was applied");
    // The untouched plan still applies.
    std::fs::write(&saved, moat::render::json::render(&original.plan)).unwrap();
    let out = run(moat(&emu, &["apply", "--auto-approve", "--plan", saved_s])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    emu.shutdown().await;
}

/// `localhost` works like `127.0.0.1` (issue 21): a whole apply through the binary against the
/// emulator at `http://localhost:PORT`, converged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_against_the_emulator_at_localhost_converges() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let url = emu.base_url().replace("127.0.0.1", "localhost");
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("moat"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("MOAT_ACCESS_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .env_remove("MOAT_ARM_ENDPOINT")
        .args([
            "apply",
            "examples/quickstart.yaml",
            "--auto-approve",
            "--arm-endpoint",
            &url,
        ])
        .stdin(Stdio::null());
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Apply complete"));
    assert!(converged(&emu).await);
    emu.shutdown().await;
}

//! Limits and failure scenarios: ARM throttling arithmetic, injected faults, operations forced
//! to fail, persistence across restarts, the request log.

use crate::emulator_support;
use crate::own_process;

use std::time::Duration;

use emulator_support::*;
use moat::arm::{ArmApi, ArmRequest, Method};
use moat::emulator::{EmulatorConfig, FailOutcome, FailRule, FaultConfig};
use serde_json::json;

fn ws(rg: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.OperationalInsights/workspaces/{name}",
        rg_id(rg)
    )
}

#[tokio::test]
async fn rule_matched_operations_end_failed_or_canceled() {
    let mut cfg = EmulatorConfig::default();
    cfg.faults.fail_operations.push(FailRule {
        method: Some("PUT".into()),
        path_contains: "workspaces/bad".into(),
        outcome: FailOutcome::Failed,
        code: "InternalError".into(),
        message: "boom".into(),
        times: Some(1),
    });
    let env = start_with(cfg).await;
    env.seed(json!([rg_seed("rg")]));
    let r = env
        .put(
            &ws("rg", "bad"),
            "2023-09-01",
            json!({"location": "eastus"}),
        )
        .await;
    env.finish_ops();
    let s = env
        .follow(r.header("azure-asyncoperation").unwrap())
        .await
        .body
        .unwrap();
    assert_eq!(s["status"], "Failed");
    assert_eq!(s["error"]["code"], "InternalError");
    assert_eq!(
        env.get(&ws("rg", "bad"), "2023-09-01").await.body.unwrap()["properties"]
            ["provisioningState"],
        "Failed"
    );
    let loc = env.follow(r.header("location").unwrap()).await;
    assert_eq!(loc.body.unwrap()["error"]["code"], "InternalError");
    // `times: Some(1)`: the retry succeeds.
    let r2 = env
        .put(
            &ws("rg", "bad"),
            "2023-09-01",
            json!({"location": "eastus"}),
        )
        .await;
    env.finish_ops();
    assert_eq!(
        env.follow(r2.header("azure-asyncoperation").unwrap())
            .await
            .body
            .unwrap()["status"],
        "Succeeded"
    );

    env.emu.set_fault(FaultConfig {
        fail_operations: vec![FailRule {
            method: None,
            path_contains: "subnets/apps".into(),
            outcome: FailOutcome::Canceled,
            code: "CanceledAndSupersededDueToAnotherOperation".into(),
            message: "superseded".into(),
            times: None,
        }],
        ..FaultConfig::default()
    });
    env.seed(network_seed());
    let sub = net_id("rg-net", "virtualNetworks/vnet/subnets/apps");
    let r = env
        .put(
            &sub,
            NET,
            json!({"properties": {"addressPrefix": "10.20.2.0/24"}}),
        )
        .await;
    env.finish_ops();
    let s = env
        .follow(r.header("azure-asyncoperation").unwrap())
        .await
        .body
        .unwrap();
    assert_eq!(
        (s["status"].as_str(), s["error"]["code"].as_str()),
        (
            Some("Canceled"),
            Some("CanceledAndSupersededDueToAnotherOperation")
        )
    );
}

#[tokio::test]
async fn throttling_follows_the_token_bucket_exactly() {
    let env = start().await;
    env.seed(json!([rg_seed("rg")]));
    let path = rg_id("rg");
    for i in 0..250u32 {
        let r = env.get(&path, RES).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("x-ms-ratelimit-remaining-subscription-reads"),
            Some((249 - i).to_string().as_str())
        );
    }
    let t = env.get(&path, RES).await;
    assert_eq!(t.status, 429);
    assert_eq!(
        t.body.as_ref().unwrap()["error"]["code"],
        "SubscriptionRequestsThrottled"
    );
    assert_eq!(
        (t.header("retry-after"), t.header("retry-after-ms")),
        (Some("1"), Some("40"))
    );
    env.clock.advance(Duration::from_millis(39));
    assert_eq!(
        env.get(&path, RES).await.header("retry-after-ms"),
        Some("1")
    );
    env.clock.advance(Duration::from_millis(1));
    assert_eq!(
        env.get(&path, RES)
            .await
            .header("x-ms-ratelimit-remaining-subscription-reads"),
        Some("0")
    );
    // Another principal (token) has its own bucket; writes have theirs.
    let other = client(&env.emu.base_url(), "other-token");
    let r = other
        .send(ArmRequest::new(Method::Get, &path, RES))
        .await
        .unwrap();
    assert_eq!(
        r.header("x-ms-ratelimit-remaining-subscription-reads"),
        Some("249")
    );
    let w = env
        .put(&rg_id("rg2"), RES, json!({"location": "eastus"}))
        .await;
    assert_eq!(
        w.header("x-ms-ratelimit-remaining-subscription-writes"),
        Some("199")
    );
    let d = env.send(Method::Delete, &rg_id("nope"), RES, None).await;
    assert_eq!(
        d.header("x-ms-ratelimit-remaining-subscription-deletes"),
        Some("199")
    );
    // A 10-second refill at 25/s brings back 250 reads, never more.
    env.clock.advance(Duration::from_secs(100));
    assert_eq!(
        env.get(&path, RES)
            .await
            .header("x-ms-ratelimit-remaining-subscription-reads"),
        Some("249")
    );
}

#[tokio::test]
async fn state_persists_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.json");
    let cfg = || EmulatorConfig {
        state_file: Some(file.clone()),
        ..EmulatorConfig::default()
    };
    let env = start_with(cfg()).await;
    env.seed(json!([rg_seed("rg"), account_seed("rg", "keep", "OpenAI")]));
    let keys = env
        .send(
            Method::Post,
            &format!("{}/listKeys", acct_id("rg", "keep")),
            CS,
            None,
        )
        .await
        .body
        .unwrap();
    env.emu.shutdown().await;
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("test-token"));
    let env2 = start_with(cfg()).await;
    assert_eq!(env2.get(&acct_id("rg", "keep"), CS).await.status, 200);
    let keys2 = env2
        .send(
            Method::Post,
            &format!("{}/listKeys", acct_id("rg", "keep")),
            CS,
            None,
        )
        .await
        .body
        .unwrap();
    assert_eq!(keys, keys2);
    env2.emu.shutdown().await;
    let env3 = start_with(EmulatorConfig {
        reset_state: true,
        ..cfg()
    })
    .await;
    assert_eq!(env3.get(&rg_id("rg"), RES).await.status, 404);
}

#[tokio::test]
async fn the_request_log_records_every_call_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("requests.jsonl");
    let env = start_with(EmulatorConfig {
        request_log_file: Some(file.clone()),
        ..EmulatorConfig::default()
    })
    .await;
    env.put(&rg_id("rg"), RES, json!({"location": "eastus"}))
        .await;
    env.get(&rg_id("rg"), RES).await;
    env.get(&rg_id("missing"), RES).await;
    let log = env.emu.request_log();
    let summary: Vec<(String, u16)> = log.iter().map(|e| (e.method.clone(), e.status)).collect();
    assert_eq!(
        summary,
        vec![
            ("PUT".into(), 201),
            ("GET".into(), 200),
            ("GET".into(), 404)
        ]
    );
    assert_eq!(log[0].path, rg_id("rg"));
    assert_eq!(log[0].api_version.as_deref(), Some(RES));
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(!text.contains("test-token") && !text.contains("eastus"));
    env.emu.clear_request_log();
    assert!(env.emu.request_log().is_empty());
}

/// Issue 21: under many concurrent requests every line of the request-log file is a whole JSON
/// entry (the line and its newline used to be separate writes, and lines interleaved).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_request_log_file_has_whole_lines_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("requests.jsonl");
    let mut cfg = EmulatorConfig {
        request_log_file: Some(file.clone()),
        ..EmulatorConfig::default()
    };
    cfg.throttle.enabled = false;
    let env = start_with(cfg).await;
    let n = 200;
    let gets = (0..n).map(|i| {
        // Long paths make long lines: more chances to interleave.
        let id = rg_id(&format!("rg-{i}-{}", "x".repeat(80)));
        let env = &env;
        async move { env.get(&id, RES).await.status }
    });
    let statuses = futures::future::join_all(gets).await;
    assert!(statuses.iter().all(|s| *s == 404), "{statuses:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), env.emu.request_log().len());
    assert!(lines.len() >= n, "{} lines for {n} requests", lines.len());
    for (i, line) in lines.iter().enumerate() {
        serde_json::from_str::<moat::emulator::RequestLogEntry>(line)
            .unwrap_or_else(|e| panic!("line {i} does not parse ({e}): {line}"));
    }
}

#[tokio::test]
async fn injected_errors_resets_and_latency() {
    let env = start().await;
    env.emu.set_fault(FaultConfig {
        error_rate: 1.0,
        seed: Some(7),
        ..FaultConfig::default()
    });
    let r = env.get(&rg_id("rg"), RES).await;
    assert!([500, 503].contains(&r.status), "{}", r.status);
    env.emu.set_fault(FaultConfig {
        reset_rate: 1.0,
        seed: Some(7),
        ..FaultConfig::default()
    });
    assert!(env
        .arm
        .send(ArmRequest::new(Method::Get, rg_id("rg"), RES))
        .await
        .is_err());
    env.emu.set_fault(FaultConfig {
        latency: Duration::from_millis(60),
        ..FaultConfig::default()
    });
    let t = std::time::Instant::now();
    assert_eq!(env.get(&rg_id("rg"), RES).await.status, 404);
    assert!(t.elapsed() >= Duration::from_millis(60));
    // Same seed, same sequence of outcomes.
    let mut runs = Vec::new();
    for _ in 0..2 {
        env.emu.set_fault(FaultConfig {
            error_rate: 0.5,
            seed: Some(42),
            ..FaultConfig::default()
        });
        let mut seq = Vec::new();
        for _ in 0..12 {
            seq.push(env.get(&rg_id("rg"), RES).await.status);
        }
        runs.push(seq);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&404) && runs[0].iter().any(|s| *s >= 500),
        "{:?}",
        runs[0]
    );
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    args: moat::emulator::cli::EmulatorArgs,
}

#[tokio::test]
async fn command_line_options_become_the_configuration() {
    use clap::Parser;
    let cli = Cli::try_parse_from([
        "moat",
        "--listen",
        "127.0.0.1:0",
        "--time-scale",
        "0.01",
        "--no-throttle",
        "--fail-operation",
        "PUT:privateEndpoints/pe1",
        "--cancel-operation",
        "*:subnets/x:Superseded",
        "--new-principal",
        "abc:5",
        "--subscription",
        SUB,
        "--page-size",
        "3",
        "--error-rate",
        "0.25",
    ])
    .unwrap();
    let cfg = cli.args.config().unwrap();
    assert!(!cfg.throttle.enabled);
    assert_eq!(
        cfg.lro_duration("Microsoft.Network/privateEndpoints"),
        Duration::from_millis(600)
    );
    assert_eq!(cfg.faults.fail_operations.len(), 2);
    assert_eq!(cfg.faults.fail_operations[1].outcome, FailOutcome::Canceled);
    assert_eq!(cfg.faults.fail_operations[1].code, "Superseded");
    assert_eq!(
        cfg.new_principals,
        vec![("abc".to_string(), Duration::from_secs(5))]
    );
    assert_eq!(cfg.subscriptions.as_deref(), Some(&[SUB.to_string()][..]));
    assert_eq!((cfg.page_size, cfg.faults.error_rate), (Some(3), 0.25));
    let sync = Cli::try_parse_from(["moat", "--sync"])
        .unwrap()
        .args
        .config()
        .unwrap();
    assert!(!sync.lro.enabled);
    assert!(Cli::try_parse_from(["moat", "--new-principal", "nocolon"])
        .unwrap()
        .args
        .config()
        .is_err());
    // The configuration serves (without the injected errors, which would make this flaky).
    let mut cfg = cfg;
    cfg.faults.error_rate = 0.0;
    let emu = moat::emulator::EmulatorHandle::start(cfg).await.unwrap();
    let arm = client(&emu.base_url(), "t");
    let r = arm
        .send(ArmRequest::new(Method::Get, rg_id("rg"), RES))
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    emu.shutdown().await;
}

/// In a process of its own: `run` waits for Ctrl-C through tokio's signal handler, which stays
/// installed until the process exits (Ctrl-C would no longer stop the other tests).
#[tokio::test]
async fn run_serves_the_seed_until_stopped() {
    if !own_process::in_own_process(module_path!(), "run_serves_the_seed_until_stopped") {
        return;
    }
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let seed =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart-seed.json");
    // A free port (released just before the emulator binds it).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let cli = Cli::try_parse_from([
        "moat",
        "--listen",
        &listen,
        "--seed",
        seed.to_str().unwrap(),
        "--request-log",
        log.to_str().unwrap(),
    ])
    .unwrap();
    let task = tokio::spawn(moat::emulator::cli::run(cli.args));
    let arm = client(&format!("http://{listen}"), "t");
    let acct = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-openai-prod";
    let mut got = None;
    for _ in 0..200 {
        if let Ok(Some(b)) = arm.get(acct, CS).await {
            got = Some(b);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        got.expect("the emulator answered")["properties"]["customSubDomainName"],
        "contoso-openai-prod"
    );
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("contoso-openai-prod"));
    task.abort();
    // A bad seed file is reported, not served.
    let bad = Cli::try_parse_from([
        "moat",
        "--listen",
        "127.0.0.1:0",
        "--seed",
        "/nonexistent/seed.json",
    ])
    .unwrap();
    assert!(moat::emulator::cli::run(bad.args)
        .await
        .unwrap_err()
        .contains("cannot read seed file"));
}

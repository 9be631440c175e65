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

const PASSWORD: &str = "SENTINEL-PASSWORD-5c1e";
const QUERY_SECRET: &str = "SENTINEL-SIG-0d9b4a";
/// A JWT a server might echo (not the one moat sent): redacted by its shape.
const ECHOED_JWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIn0.U0VOVElORUwtSldULVNJRw";

/// A hostile "ARM" that echoes the Authorization header it received (and a JWT, and a terminal
/// escape) in every error message and every detail.
async fn echo_server() -> String {
    use axum::http::HeaderMap;
    async fn echo(headers: HeaderMap) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (
            axum::http::StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({"error": {
                "code": "AuthorizationFailed",
                "message": format!("the token in '{auth}' is not valid here \u{1b}]0;pwned\u{7}\u{1b}[2J; try {ECHOED_JWT}"),
                "details": [{"code": "Echo", "message": format!("{auth} / {ECHOED_JWT}")}],
            }})),
        )
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(echo);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{}", addr.port())
}

fn moat_at(endpoint: &str, cwd: &Path, verbosity: &str, custom: bool) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("moat"));
    c.current_dir(cwd)
        .env("MOAT_ACCESS_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .env_remove("MOAT_ARM_ENDPOINT")
        .stdin(Stdio::null());
    match verbosity {
        "trace" => {
            c.env("RUST_LOG", "trace").arg("-vv");
        }
        "" => {
            c.env_remove("RUST_LOG");
        }
        v => {
            c.env_remove("RUST_LOG").arg(v);
        }
    }
    c.args(["plan", e2e::repo(BLUEPRINT).to_str().unwrap()])
        .args(["--arm-endpoint", endpoint]);
    if custom {
        c.arg("--allow-custom-endpoint");
    }
    c
}

/// Issue 21: a password in `--arm-endpoint`, a secret in its query, and a token (the one moat sent,
/// and any JWT) echoed by a server in its error messages never reach stdout, stderr or the logs,
/// at any verbosity; nor does the server's terminal escape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_userinfo_and_echoed_tokens_are_redacted_at_every_verbosity() {
    let work = tempfile::tempdir().unwrap();
    let emu = e2e::emulator_with(EmulatorConfig::default(), "examples/quickstart-seed.json").await;
    let emu_port = emu.base_url().rsplit(':').next().unwrap().to_string();
    let echo = echo_server().await;
    let echo_port = echo.rsplit(':').next().unwrap().to_string();
    // (what, endpoint, --allow-custom-endpoint, expected exit code)
    let cases = [
        (
            "userinfo, emulator",
            format!("http://moat:{PASSWORD}@127.0.0.1:{emu_port}"),
            true,
            0,
        ),
        (
            "userinfo, echoing server",
            format!("http://moat:{PASSWORD}@127.0.0.1:{echo_port}"),
            true,
            1,
        ),
        ("echoing server", echo.clone(), false, 1),
        (
            "userinfo refused",
            format!("http://moat:{PASSWORD}@127.0.0.1:{emu_port}"),
            false,
            1,
        ),
        (
            "secret query refused",
            format!("http://127.0.0.1:{emu_port}/?sig={QUERY_SECRET}&token={QUERY_SECRET}"),
            true,
            1,
        ),
    ];
    let sentinels = [
        TOKEN,
        &TOKEN[..20],
        PASSWORD,
        QUERY_SECRET,
        ECHOED_JWT,
        &ECHOED_JWT[..30],
        "\u{1b}",
        "\u{7}",
    ];
    let (mut runs, mut hits, mut echoed) = (0, Vec::new(), 0);
    for (what, endpoint, custom, code) in &cases {
        for verbosity in ["", "-v", "-vv", "trace"] {
            let out = run(moat_at(endpoint, work.path(), verbosity, *custom)).await;
            runs += 1;
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            assert_eq!(
                out.status.code(),
                Some(*code),
                "{what} {verbosity}: {stdout}\n{stderr}"
            );
            if what.contains("echoing") {
                // The message really came back, redacted and escaped.
                assert!(
                    stderr.contains("Bearer [redacted]") && stderr.contains("\\x1b]0;pwned\\x07"),
                    "{what} {verbosity}: {stderr}"
                );
                echoed += 1;
            }
            if verbosity == "-vv" && *code == 0 {
                assert!(stderr.contains("ARM request"), "{what}: no request log");
            }
            for s in sentinels {
                for (stream, text) in [("stdout", &stdout), ("stderr", &stderr)] {
                    if text.contains(s) {
                        hits.push(format!("{what} {verbosity} {stream} contains {s:?}"));
                    }
                }
            }
        }
    }
    println!("security-secrets: endpoint userinfo / query secrets / echoed tokens: {runs} moat runs, {echoed} with the server's echo, secrets or escapes leaked {}", hits.len());
    assert!(hits.is_empty(), "leaked: {hits:#?}");
    emu.shutdown().await;
}

//! Endpoint safety through the CLI (issue 8): plain http only to loopback; an `--arm-endpoint` with
//! user credentials, an odd scheme or a host that is not an Azure management endpoint needs
//! `--allow-custom-endpoint` (odd schemes and non-loopback http are refused even with it); TLS is
//! always verified, whatever the flags. Refusals happen before any request: the emulator's
//! request log stays empty, and no credential chain is consulted (MOAT_ACCESS_TOKEN is set, or
//! the check fires before credentials are built).

use crate::support;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use moat::emulator::EmulatorConfig;
use support::e2e;

const BLUEPRINT: &str = "examples/quickstart.yaml";

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn moat_plan(endpoint: &str, flag: bool, token: Option<&str>) -> Out {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("moat"));
    let dir = tempfile::tempdir().unwrap();
    c.current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("MOAT_ARM_ENDPOINT")
        .env_remove("MOAT_ACCESS_TOKEN")
        // Make sure no ambient Azure identity could be used if a check were missing.
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("IDENTITY_ENDPOINT")
        .env_remove("MSI_ENDPOINT")
        .args(["plan", e2e::repo(BLUEPRINT).to_str().unwrap()])
        .args(["--arm-endpoint", endpoint])
        .stdin(Stdio::null());
    if flag {
        c.arg("--allow-custom-endpoint");
    }
    if let Some(t) = token {
        c.env("MOAT_ACCESS_TOKEN", t);
    }
    let out = tokio::task::spawn_blocking(move || {
        let o = c.output().unwrap();
        drop(dir);
        o
    })
    .await
    .unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_rules_through_the_cli() {
    let mut cfg = EmulatorConfig::default();
    cfg.lro.enabled = false;
    let emu = e2e::emulator_with(cfg, "examples/quickstart-seed.json").await;
    let url = emu.base_url(); // http://127.0.0.1:PORT
    let port = url.rsplit(':').next().unwrap().to_string();
    let tok = Some("endpoint-test-token");

    // Accepted: loopback http with a static token (the emulator), also as `localhost`.
    for ep in [url.clone(), format!("http://localhost:{port}")] {
        emu.clear_request_log();
        let o = moat_plan(&ep, false, tok).await;
        assert_eq!(o.code, Some(0), "{ep}: {}{}", o.stdout, o.stderr);
        assert!(!emu.request_log().is_empty(), "{ep}: no request arrived");
    }

    // (endpoint, with --allow-custom-endpoint, token, what the refusal must say)
    let password = "hunter2-in-the-url";
    let refused: Vec<(String, bool, Option<&str>, &str)> = vec![
        // Loopback without a static token: the token would come from the user's Azure identity.
        (url.clone(), false, None, "set MOAT_ACCESS_TOKEN"),
        // User credentials in the URL.
        (
            format!("http://admin:{password}@127.0.0.1:{port}"),
            false,
            tok,
            "carries user credentials",
        ),
        // Plain http to a non-loopback host: never, flag or not.
        (
            "http://management.azure.com".into(),
            false,
            tok,
            "plain http",
        ),
        (
            "http://management.azure.com".into(),
            true,
            tok,
            "plain http",
        ),
        ("http://10.1.2.3:8080".into(), true, tok, "plain http"),
        // Odd schemes: never, flag or not.
        (format!("ftp://127.0.0.1:{port}"), false, tok, "scheme"),
        (format!("ftp://127.0.0.1:{port}"), true, tok, "scheme"),
        ("file:///etc/passwd".into(), true, tok, "scheme"),
        (format!("ws://127.0.0.1:{port}"), true, tok, "scheme"),
        // Hosts that are not Azure management endpoints need the flag.
        (
            "https://arm.contoso.example".into(),
            false,
            tok,
            "not an Azure management endpoint",
        ),
        (
            "https://management.azure.com.attacker.example".into(),
            false,
            tok,
            "not an Azure management endpoint",
        ),
        (
            "https://management.azure.com:8443".into(),
            false,
            tok,
            "not an Azure management endpoint",
        ),
        // A path, query or fragment smuggled into the origin.
        (format!("{url}/proxy"), false, tok, "has a path"),
        (format!("{url}/?x=1"), false, tok, "query or fragment"),
    ];
    let mut checked = 0;
    for (ep, flag, token, why) in &refused {
        emu.clear_request_log();
        let o = moat_plan(ep, *flag, *token).await;
        assert_eq!(
            o.code,
            Some(1),
            "{ep} (flag {flag}) must be refused: {}{}",
            o.stdout,
            o.stderr
        );
        assert!(
            o.stderr.contains(why),
            "{ep} (flag {flag}): expected `{why}` in: {}",
            o.stderr
        );
        assert!(
            !o.stderr.contains(password) && !o.stdout.contains(password),
            "the URL's password is echoed: {}",
            o.stderr
        );
        assert!(
            emu.request_log().is_empty(),
            "{ep}: a request was sent before the refusal"
        );
        checked += 1;
    }

    // With the flag, user credentials in a loopback URL pass the endpoint check (explicit
    // opt-in): requests go out, and the password is still never printed.
    emu.clear_request_log();
    let o = moat_plan(
        &format!("http://admin:{password}@127.0.0.1:{port}"),
        true,
        tok,
    )
    .await;
    assert!(
        !o.stderr.contains("carries user credentials"),
        "{}",
        o.stderr
    );
    assert!(
        !emu.request_log().is_empty(),
        "the opted-in endpoint was not used"
    );
    assert!(!o.stderr.contains(password) && !o.stdout.contains(password));
    println!("security-endpoints: endpoints refused {checked}, accepted 3, requests sent before a refusal 0");
    emu.shutdown().await;
}

/// TLS is verified through the CLI too: a loopback https server with a self-signed certificate
/// (trusted for the endpoint rules: loopback and a static token) is refused at the handshake,
/// with and without `--allow-custom-endpoint`; no TLS session is ever established.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_tls_is_refused_through_the_cli() {
    let (acceptor, listener, port) = crate::arm_support::self_signed_tls().await;
    let handshakes = Arc::new(AtomicUsize::new(0));
    let attempts = Arc::new(AtomicUsize::new(0));
    let (done, tried) = (handshakes.clone(), attempts.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tried.fetch_add(1, Ordering::SeqCst);
            if acceptor.accept(tcp).await.is_ok() {
                done.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let started = std::time::Instant::now();
    for flag in [false, true] {
        let o = moat_plan(&format!("https://127.0.0.1:{port}"), flag, Some("tls-test")).await;
        assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
        assert!(
            o.stderr.to_lowercase().contains("certificate"),
            "flag {flag}: {}",
            o.stderr
        );
    }
    assert!(attempts.load(Ordering::SeqCst) >= 2, "moat did connect");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "certificate errors were retried with backoff ({:?})",
        started.elapsed()
    );
    // A refused certificate is not retried (it would be refused again): at most one connection
    // per concurrent first read (parallelism 16) per run.
    assert!(
        attempts.load(Ordering::SeqCst) <= 32,
        "a certificate error was retried {} times",
        attempts.load(Ordering::SeqCst)
    );
    assert_eq!(
        handshakes.load(Ordering::SeqCst),
        0,
        "a TLS session was established"
    );
}

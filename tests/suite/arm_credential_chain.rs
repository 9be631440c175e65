//! The rest of moat's credential chain (src/arm/credential.rs), each against servers on
//! 127.0.0.1 with the tests' [`Loopback`] transport refusing anything else:
//! - managed identity on App Service (`IDENTITY_ENDPOINT` / `IDENTITY_HEADER`, a loopback URL as
//!   App Service sets it) and on a VM (IMDS's `http://169.254.169.254`, routed to a test server);
//! - an IMDS that does not answer gets `IMDS_PROBE_TIMEOUT` (1 s), then the Azure CLI signs in
//!   (a fake `az` on `PATH`), and is the only credential asked from then on;
//! - no credential at all: every one is named in the error, with the hint;
//! - token endpoints that answer too much or too slowly end within moat's limits.
//!
//! Every test changes the environment, so each runs in a process of its own (`own_process`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::arm_credentials::{clear_identity_env, opts, ENTRA, IMDS};
use crate::arm_support::{raw_server, Loopback, Reply, Server};
use crate::own_process::in_own_process;
use moat::arm::credential::{ChainOptions, CredentialChain, MAX_TOKEN_RESPONSE_BYTES};
use moat::arm::http::HttpTimeouts;
use moat::arm::{connect, Cloud};
use serde_json::json;

fn msi_reply(token: &str) -> Reply {
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    Reply::json(
        200,
        json!({"access_token": token, "expires_on": expires.to_string(),
               "resource": "https://management.azure.com", "token_type": "Bearer"}),
    )
}

/// A fake `az` in `bin` (the whole `PATH`): it appends its arguments to `az.log` there and
/// prints a token as `az account get-access-token -o json` does.
fn fake_az(bin: &std::path::Path, token: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let log = bin.join("az.log");
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> '{}'\nprintf '%s\\n' '{{\"accessToken\": \"{token}\", \
         \"expiresOn\": \"2099-01-01 00:00:00.000000\", \"expires_on\": 4070908800, \
         \"subscription\": \"s\", \"tenant\": \"t\", \"tokenType\": \"Bearer\"}}'\n",
        log.display()
    );
    let az = bin.join("az");
    std::fs::write(&az, script).unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    log
}

#[tokio::test]
async fn app_service_managed_identity() {
    if !in_own_process(module_path!(), "app_service_managed_identity") {
        return;
    }
    let msi = Server::start().await;
    msi.default_reply(msi_reply("app-service-token"));
    let arm = Server::start().await;
    arm.default_reply(Reply::json(200, json!({})));
    let _bin = clear_identity_env();
    std::env::set_var("IDENTITY_ENDPOINT", msi.url("/msi/token"));
    std::env::set_var("IDENTITY_HEADER", "app-service-header-secret");
    let transport = Loopback::new(&[]);

    let api = connect(&opts(&arm, Cloud::Public, &transport)).unwrap();
    api.get("/subscriptions/s", "v").await.unwrap();
    let call = &msi.seen()[0];
    assert_eq!(call.method, "GET");
    assert_eq!(
        call.uri,
        "/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fmanagement.azure.com"
    );
    assert_eq!(
        call.headers["x-identity-header"],
        "app-service-header-secret"
    );
    assert_eq!(
        arm.seen()[0].headers["authorization"],
        "Bearer app-service-token"
    );
    assert!(transport.refused().is_empty());
}

#[tokio::test]
async fn vm_managed_identity_through_imds() {
    if !in_own_process(module_path!(), "vm_managed_identity_through_imds") {
        return;
    }
    let imds = Server::start().await;
    imds.default_reply(msi_reply("imds-token"));
    let arm = Server::start().await;
    arm.default_reply(Reply::json(200, json!({})));
    let _bin = clear_identity_env();
    let transport = Loopback::new(&[(IMDS, &imds.base)]);

    let api = connect(&opts(&arm, Cloud::China, &transport)).unwrap();
    api.get("/subscriptions/s", "v").await.unwrap();
    let call = &imds.seen()[0];
    assert_eq!(
        call.uri,
        "/metadata/identity/oauth2/token?api-version=2019-08-01\
         &resource=https%3A%2F%2Fmanagement.chinacloudapi.cn"
    );
    assert_eq!(call.headers["metadata"], "true");
    assert_eq!(arm.seen()[0].headers["authorization"], "Bearer imds-token");
    assert!(transport.refused().is_empty());
}

/// A workstation: nothing answers at IMDS. It gets one second, the Azure CLI signs in, and
/// from then on only the CLI is asked (a refused token does not probe IMDS again).
#[tokio::test]
async fn a_silent_imds_gets_one_second_then_the_azure_cli_signs_in() {
    if !in_own_process(
        module_path!(),
        "a_silent_imds_gets_one_second_then_the_azure_cli_signs_in",
    ) {
        return;
    }
    let imds = Server::start().await;
    imds.default_reply(msi_reply("too-late").after(Duration::from_secs(30)));
    let arm = Server::start().await;
    arm.push(Reply::json(200, json!({})));
    arm.push(Reply::error(401, "InvalidAuthenticationToken", "expired"));
    arm.default_reply(Reply::json(200, json!({})));
    let bin = clear_identity_env();
    let log = fake_az(bin.path(), "cli-access-token");
    let transport = Loopback::new(&[(IMDS, &imds.base)]);

    let started = Instant::now();
    let api = connect(&opts(&arm, Cloud::Usgovernment, &transport)).unwrap();
    api.get("/subscriptions/s", "v").await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= moat::arm::credential::IMDS_PROBE_TIMEOUT && took < Duration::from_secs(10),
        "{took:?}"
    );
    api.get("/subscriptions/s", "v").await.unwrap();
    assert_eq!(imds.seen().len(), 1, "IMDS is probed once");
    let calls = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(
        calls,
        ["account get-access-token -o json --scope https://management.usgovcloudapi.net/.default";
            2],
        "once to sign in, once after ARM refused the token"
    );
    assert!(arm
        .seen()
        .iter()
        .all(|r| r.headers["authorization"] == "Bearer cli-access-token"));
    assert!(transport.refused().is_empty());
}

#[tokio::test]
async fn no_credential_at_all_names_every_one_tried() {
    if !in_own_process(module_path!(), "no_credential_at_all_names_every_one_tried") {
        return;
    }
    let imds = Server::start().await;
    imds.default_reply(Reply::json(400, json!({"error": "invalid_request"})));
    let arm = Server::start().await;
    let _bin = clear_identity_env();
    let transport = Loopback::new(&[(IMDS, &imds.base)]);

    let api = connect(&opts(&arm, Cloud::Public, &transport)).unwrap();
    let started = Instant::now();
    let err = api.get("/subscriptions/s", "v").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(err, moat::arm::ArmError::Credential(_)), "{err:?}");
    let out = moat::report::render_error(&err);
    let expected = [
        "error: could not get an access token for ARM: no credential gave a token; tried, in order:",
        "  - environment: not available: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET \
         or AZURE_FEDERATED_TOKEN_FILE are not set",
        "  - managed identity (IMDS): ManagedIdentityCredential authentication failed. The \
         requested identity has not been assigned to this resource",
        "  - Azure CLI: AzureCliCredential authentication failed. az not found on PATH",
    ];
    for line in expected {
        assert!(out.contains(line), "{line}\n---\n{out}");
    }
    assert!(
        out.contains("\nhint: moat signs in with the first of"),
        "{out}"
    );
    assert!(arm.seen().is_empty());
    assert!(transport.refused().is_empty());
}

/// A chain over `transport` whose environment is a service principal at [`ENTRA`], with short
/// limits.
fn service_principal_chain(transport: Arc<Loopback>, timeouts: HttpTimeouts) -> CredentialChain {
    let mut o = ChainOptions::new(url::Url::parse(ENTRA).unwrap(), transport);
    o.timeouts = timeouts;
    o.credential_timeout = Duration::from_secs(2);
    o.imds_probe_timeout = Duration::from_millis(100);
    CredentialChain::from_lookup(o, &|name| match name {
        "AZURE_TENANT_ID" => Some(crate::arm_credentials::TENANT.into()),
        "AZURE_CLIENT_ID" => Some(crate::arm_credentials::CLIENT.into()),
        "AZURE_CLIENT_SECRET" => Some("bounded-test-secret".into()),
        _ => None,
    })
}

/// A token answer at the size limit is read; one byte more is refused (and not retried), and a
/// body that trickles in ends within the chain's time limits.
#[tokio::test]
async fn token_answers_are_read_within_moats_limits() {
    if !in_own_process(module_path!(), "token_answers_are_read_within_moats_limits") {
        return;
    }
    let _bin = clear_identity_env();
    let token = json!({"token_type": "Bearer", "expires_in": 3600, "access_token": "sized-token"})
        .to_string();
    let padded = |n: usize| format!("{token}{}", " ".repeat(n - token.len()));
    let entra = Server::start().await;
    entra.push(Reply::text(200, &padded(MAX_TOKEN_RESPONSE_BYTES)));
    entra.push(Reply::text(200, &padded(MAX_TOKEN_RESPONSE_BYTES + 1)));
    let transport = Loopback::new(&[(ENTRA, &entra.base)]);

    let chain = service_principal_chain(transport.clone(), HttpTimeouts::default());
    let t = chain.get_token(Cloud::Public.scope()).await.unwrap();
    assert_eq!(t.token.secret(), "sized-token");
    assert_eq!(
        chain.selected().as_deref(),
        Some("environment (client secret)")
    );

    let chain = service_principal_chain(transport.clone(), HttpTimeouts::default());
    let err = chain.get_token(Cloud::Public.scope()).await.unwrap_err();
    let first = err.attempts[0].to_string();
    assert!(
        first.contains("over moat's limit of 65536 bytes"),
        "{first}"
    );
    assert_eq!(
        entra.seen().len(),
        2,
        "a body over the limit is not asked for again"
    );

    // One byte every 300 ms: the idle timeout (100 ms) ends each exchange, and the chain's
    // limit ends the retries.
    let trickle = raw_server(|_head, mut sock| async move {
        use tokio::io::AsyncWriteExt;
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
        let _ = sock.write_all(head.as_bytes()).await;
        for _ in 0..100 {
            if sock.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await;
    let transport = Loopback::new(&[(ENTRA, &trickle)]);
    let timeouts = HttpTimeouts {
        idle: Duration::from_millis(100),
        total: Duration::from_millis(500),
        ..HttpTimeouts::default()
    };
    let started = Instant::now();
    let err = service_principal_chain(transport.clone(), timeouts)
        .get_token(Cloud::Public.scope())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.attempts.len(), 3, "{err}");
    let first = err.attempts[0].to_string();
    assert!(
        first.starts_with("environment (client secret): no answer within 2s")
            || first.contains("stalled"),
        "{first}"
    );
    // Neither leaves loopback: IMDS is not routed here, so the transport refused it.
    assert_eq!(
        transport.refused(),
        ["http://169.254.169.254/metadata/identity/oauth2/token?api-version=2019-08-01&resource=https%3A%2F%2Fmanagement.azure.com"]
    );
}

//! Credential paths that can run here, each against servers on 127.0.0.1:
//! - a static bearer token (`MOAT_ACCESS_TOKEN`);
//! - an environment service principal (`AZURE_TENANT_ID` / `AZURE_CLIENT_ID` /
//!   `AZURE_CLIENT_SECRET`) through `DefaultAzureCredential`, with a token endpoint run by the test
//!   and `AZURE_AUTHORITY_HOST` pointing at it (azure_identity 0.21 reads that variable in
//!   `TokenCredentialOptions::default()`, and accepts an http:// authority);
//! - workload identity (OIDC federation) via `AZURE_FEDERATED_TOKEN_FILE`;
//!
//! and for every cloud the scope moat asks for. Managed identity (IMDS / App Service) and the
//! Azure CLI cannot be exercised here without leaving loopback or installing `az`.
//!
//! The environment is process-wide: the tests that change it run in a process of their own
//! (`own_process`), so no other test reads it, or spawns `moat` with it, meanwhile.

use crate::arm_support;
use crate::own_process;

use arm_support::{Reply, Server};
use moat::arm::{connect, connect_http, ArmApi, Cloud, ConnectOptions, RetryPolicy};
use own_process::in_own_process;
use serde_json::json;

const TENANT: &str = "72f988bf-0000-0000-0000-0000000000aa";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const SECRET: &str = "sp-secret-value";

fn token_reply(token: &str) -> Reply {
    Reply::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
               "access_token": token}),
    )
}

fn form(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn field(body: &str, name: &str) -> Option<String> {
    form(body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn set_service_principal_env(authority: &str) {
    std::env::set_var("AZURE_AUTHORITY_HOST", authority);
    std::env::set_var("AZURE_TENANT_ID", TENANT);
    std::env::set_var("AZURE_CLIENT_ID", CLIENT);
    std::env::set_var("AZURE_CLIENT_SECRET", SECRET);
    std::env::remove_var("AZURE_FEDERATED_TOKEN");
    std::env::remove_var("AZURE_FEDERATED_TOKEN_FILE");
}

fn opts(arm: &Server, cloud: Cloud) -> ConnectOptions {
    ConnectOptions {
        cloud,
        arm_endpoint: Some(arm.base.clone()),
        // A real identity's token going to a loopback endpoint needs the explicit flag.
        allow_custom_endpoint: true,
        retry: RetryPolicy::default().zero_delays(),
        ..Default::default()
    }
}

#[tokio::test]
async fn static_token_is_sent_as_bearer() {
    let arm = Server::start().await;
    arm.default_reply(Reply::json(200, json!({})));
    let api = connect(&ConnectOptions {
        arm_endpoint: Some(arm.base.clone()),
        access_token: Some("emulator-token".into()),
        ..Default::default()
    })
    .unwrap();
    api.get("/subscriptions/s", "2022-12-01").await.unwrap();
    assert_eq!(
        arm.seen()[0].headers["authorization"],
        "Bearer emulator-token"
    );
}

#[tokio::test]
async fn loopback_without_static_token_needs_the_flag() {
    let err = connect(&ConnectOptions {
        arm_endpoint: Some("http://127.0.0.1:9".into()),
        ..Default::default()
    })
    .err()
    .expect("refused");
    assert!(err.to_string().contains("--allow-custom-endpoint"), "{err}");
    let err = connect(&ConnectOptions {
        arm_endpoint: Some("http://arm.example.com".into()),
        access_token: Some("t".into()),
        allow_custom_endpoint: true,
        ..Default::default()
    })
    .err()
    .expect("refused");
    assert!(err.to_string().contains("refusing plain http://"), "{err}");
}

#[tokio::test]
async fn environment_service_principal_gets_one_token_per_cloud_scope() {
    if !in_own_process(
        module_path!(),
        "environment_service_principal_gets_one_token_per_cloud_scope",
    ) {
        return;
    }
    let entra = Server::start().await;
    entra.default_reply(token_reply("sp-access-token"));
    let arm = Server::start().await;
    arm.default_reply(Reply::json(200, json!({})));
    set_service_principal_env(&entra.base);

    for (i, cloud) in Cloud::ALL.into_iter().enumerate() {
        let api = connect_http(&opts(&arm, cloud)).unwrap();
        for r in 0..3 {
            api.get(&format!("/subscriptions/s/r{r}"), "v")
                .await
                .unwrap();
        }
        let token_calls = entra.seen();
        assert_eq!(
            token_calls.len(),
            i + 1,
            "one token request per client, then cached"
        );
        let call = token_calls.last().unwrap();
        assert_eq!(call.method, "POST");
        assert_eq!(call.uri, format!("/{TENANT}/oauth2/v2.0/token"));
        assert_eq!(field(&call.body, "scope").as_deref(), Some(cloud.scope()));
        assert_eq!(field(&call.body, "client_id").as_deref(), Some(CLIENT));
        assert_eq!(field(&call.body, "client_secret").as_deref(), Some(SECRET));
        assert_eq!(
            field(&call.body, "grant_type").as_deref(),
            Some("client_credentials")
        );
    }
    let seen = arm.seen();
    assert_eq!(seen.len(), 9);
    assert!(seen
        .iter()
        .all(|r| r.headers["authorization"] == "Bearer sp-access-token"));
}

#[tokio::test]
async fn workload_identity_federation_from_a_token_file() {
    if !in_own_process(
        module_path!(),
        "workload_identity_federation_from_a_token_file",
    ) {
        return;
    }
    let entra = Server::start().await;
    entra.default_reply(token_reply("wi-access-token"));
    let arm = Server::start().await;
    arm.default_reply(Reply::json(200, json!({})));
    set_service_principal_env(&entra.base);
    std::env::remove_var("AZURE_CLIENT_SECRET");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, "federated.jwt.from-the-pipeline").unwrap();
    std::env::set_var("AZURE_FEDERATED_TOKEN_FILE", &file);

    let api = connect(&opts(&arm, Cloud::Usgovernment)).unwrap();
    api.get("/subscriptions/s", "v").await.unwrap();
    let call = &entra.seen()[0];
    assert_eq!(
        field(&call.body, "client_assertion").as_deref(),
        Some("federated.jwt.from-the-pipeline")
    );
    assert_eq!(
        field(&call.body, "client_assertion_type").as_deref(),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    assert_eq!(
        field(&call.body, "scope").as_deref(),
        Some("https://management.usgovcloudapi.net/.default")
    );
    assert_eq!(
        arm.seen()[0].headers["authorization"],
        "Bearer wi-access-token"
    );
}

#[tokio::test]
async fn a_refused_token_is_replaced_once() {
    if !in_own_process(module_path!(), "a_refused_token_is_replaced_once") {
        return;
    }
    let entra = Server::start().await;
    entra.push(token_reply("first-token"));
    entra.push(token_reply("second-token"));
    let arm = Server::start().await;
    arm.push(Reply::error(
        401,
        "ExpiredAuthenticationToken",
        "The access token expiry UTC time is earlier than current UTC time.",
    ));
    arm.push(Reply::json(200, json!({"ok": true})));
    arm.push(Reply::error(401, "InvalidAuthenticationToken", "nope"));
    arm.push(Reply::error(
        401,
        "InvalidAuthenticationToken",
        "still nope",
    ));
    entra.default_reply(token_reply("third-token"));
    set_service_principal_env(&entra.base);

    let api = connect(&opts(&arm, Cloud::Public)).unwrap();
    assert_eq!(
        api.get("/subscriptions/s", "v").await.unwrap(),
        Some(json!({"ok": true}))
    );
    let seen = arm.seen();
    assert_eq!(seen[0].headers["authorization"], "Bearer first-token");
    assert_eq!(seen[1].headers["authorization"], "Bearer second-token");

    // A token that is refused twice is an error, with a hint, and the token is not in it.
    let err = api.get("/subscriptions/s", "v").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let out = moat::report::render_error(&err);
    assert!(out.contains("hint: the access token was refused"), "{out}");
    assert!(!out.contains("second-token"), "{out}");
}

/// A credential that counts how often it is asked, and hands out tokens valid for `valid`.
#[derive(Debug)]
struct Counting {
    calls: std::sync::atomic::AtomicUsize,
    valid: time::Duration,
}

#[async_trait::async_trait]
impl azure_core::auth::TokenCredential for Counting {
    async fn get_token(
        &self,
        scopes: &[&str],
    ) -> azure_core::Result<azure_core::auth::AccessToken> {
        assert_eq!(scopes, ["https://management.chinacloudapi.cn/.default"]);
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Slow, like `az account get-access-token`: concurrent requests must not each start one.
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        Ok(azure_core::auth::AccessToken::new(
            format!("counted-{n}"),
            time::OffsetDateTime::now_utc() + self.valid,
        ))
    }
    async fn clear_cache(&self) -> azure_core::Result<()> {
        Ok(())
    }
}

fn counting_client(
    arm: &Server,
    valid: time::Duration,
) -> (std::sync::Arc<Counting>, moat::arm::HttpArm) {
    let cred = std::sync::Arc::new(Counting {
        calls: Default::default(),
        valid,
    });
    let api = moat::arm::HttpArm::new(
        url::Url::parse(&arm.base).unwrap(),
        moat::arm::http::TokenSource::Credential {
            credential: cred.clone(),
            scope: Cloud::China.scope().to_string(),
        },
    )
    .with_retry_policy(RetryPolicy::default().zero_delays());
    (cred, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_cached_until_near_expiry_and_fetched_once_under_concurrency() {
    let arm = Server::start().await;
    arm.default_reply(Reply::json(200, json!({})));
    let (cred, api) = counting_client(&arm, time::Duration::hours(1));
    let api = std::sync::Arc::new(api);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move { api.get(&format!("/subscriptions/s/r{i}"), "v").await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    api.get("/subscriptions/s/again", "v").await.unwrap();
    assert_eq!(cred.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(arm
        .seen()
        .iter()
        .all(|r| r.headers["authorization"] == "Bearer counted-0"));

    // A token about to expire is not reused: each request asks again.
    let (cred, api) = counting_client(&arm, time::Duration::minutes(2));
    api.get("/subscriptions/s/1", "v").await.unwrap();
    api.get("/subscriptions/s/2", "v").await.unwrap();
    assert_eq!(cred.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn each_cloud_selects_its_management_endpoint() {
    for cloud in Cloud::ALL {
        let api = connect_http(&ConnectOptions {
            cloud,
            access_token: Some("t".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(api.endpoint().as_str(), cloud.management_endpoint());
    }
    // The override wins over the cloud, and keeps the cloud's scope for tokens.
    let api = connect_http(&ConnectOptions {
        cloud: Cloud::China,
        arm_endpoint: Some("https://arm-proxy.example.net".into()),
        allow_custom_endpoint: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(api.endpoint().as_str(), "https://arm-proxy.example.net/");
}

/// TLS is always verified: a loopback https server with a self-signed certificate is refused,
/// and no request reaches it.
#[tokio::test]
async fn self_signed_certificates_are_refused() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let (acceptor, listener, port) = crate::arm_support::self_signed_tls().await;
    let handshakes = Arc::new(AtomicUsize::new(0));
    let done = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            if acceptor.accept(tcp).await.is_ok() {
                done.fetch_add(1, Ordering::SeqCst);
            }
        }
    });

    let api = connect(&ConnectOptions {
        arm_endpoint: Some(format!("https://127.0.0.1:{port}")),
        access_token: Some("never-sent".into()),
        retry: RetryPolicy::none(),
        ..Default::default()
    })
    .unwrap();
    let err = api.get("/subscriptions/s", "v").await.unwrap_err();
    assert!(
        matches!(err, moat::arm::ArmError::Transport { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert_eq!(handshakes.load(Ordering::SeqCst), 0);
}

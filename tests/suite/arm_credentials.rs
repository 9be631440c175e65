//! Credential paths that can run here, each against servers on 127.0.0.1 (the tests' transport,
//! [`Loopback`], refuses every request that would leave loopback):
//! - a static bearer token (`MOAT_ACCESS_TOKEN`);
//! - an environment service principal (`AZURE_TENANT_ID` / `AZURE_CLIENT_ID` /
//!   `AZURE_CLIENT_SECRET`) through moat's chain (azure_identity 1.x's `ClientSecretCredential`),
//!   with `AZURE_AUTHORITY_HOST=https://login.moat.test` routed to a token endpoint run by the test
//!   (azure_identity 1.x, and moat, refuse an http:// authority host);
//! - workload identity (OIDC federation) via `AZURE_FEDERATED_TOKEN_FILE`, read again when ARM
//!   refuses a token;
//! - a refused service principal, reported without its secret;
//!
//! and for every cloud the scope moat asks for. Managed identity (App Service and IMDS) and the
//! Azure CLI: `arm_credential_chain`.
//!
//! The environment is process-wide: the tests that change it run in a process of their own
//! (`own_process`), so no other test reads it, or spawns `moat` with it, meanwhile.

use std::sync::Arc;

use crate::arm_support;
use crate::own_process;

use arm_support::{Loopback, Reply, Server};
use moat::arm::{connect, connect_http, ArmApi, Cloud, ConnectOptions, RetryPolicy};
use own_process::in_own_process;
use serde_json::json;

pub const TENANT: &str = "72f988bf-0000-0000-0000-0000000000aa";
pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const SECRET: &str = "sp-secret-value";
/// The authority host the environment tests set; [`Loopback`] routes it to the test's server.
pub const ENTRA: &str = "https://login.moat.test";
/// IMDS's origin, routed by [`Loopback`] in the managed identity tests.
pub const IMDS: &str = "http://169.254.169.254";

pub fn token_reply(token: &str) -> Reply {
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

pub fn field(body: &str, name: &str) -> Option<String> {
    form(body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Every variable moat's chain or azure_identity reads, unset, and `PATH` an empty directory (no
/// `az`): only what a test sets is there. Call in a test's own process only.
pub fn clear_identity_env() -> tempfile::TempDir {
    for v in [
        "AZURE_AUTHORITY_HOST",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN",
        "AZURE_FEDERATED_TOKEN_FILE",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "IDENTITY_SERVER_THUMBPRINT",
        "IMDS_ENDPOINT",
        "MSI_ENDPOINT",
        "MSI_SECRET",
    ] {
        std::env::remove_var(v);
    }
    let bin = tempfile::tempdir().unwrap();
    std::env::set_var("PATH", bin.path());
    bin
}

fn set_service_principal_env() -> tempfile::TempDir {
    let bin = clear_identity_env();
    std::env::set_var("AZURE_AUTHORITY_HOST", ENTRA);
    std::env::set_var("AZURE_TENANT_ID", TENANT);
    std::env::set_var("AZURE_CLIENT_ID", CLIENT);
    std::env::set_var("AZURE_CLIENT_SECRET", SECRET);
    bin
}

/// Options for `arm` with a real identity's token (hence the flag) over `transport`.
pub fn opts(arm: &Server, cloud: Cloud, transport: &Arc<Loopback>) -> ConnectOptions {
    ConnectOptions {
        cloud,
        arm_endpoint: Some(arm.base.clone()),
        // A real identity's token going to a loopback endpoint needs the explicit flag.
        allow_custom_endpoint: true,
        retry: RetryPolicy::default().zero_delays(),
        transport: Some(transport.clone()),
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
    let _bin = set_service_principal_env();
    let transport = Loopback::new(&[(ENTRA, &entra.base)]);

    for (i, cloud) in Cloud::ALL.into_iter().enumerate() {
        let api = connect_http(&opts(&arm, cloud, &transport)).unwrap();
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
    assert_eq!(transport.refused(), Vec::<String>::new());
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
    let _bin = set_service_principal_env();
    std::env::remove_var("AZURE_CLIENT_SECRET");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, "federated.jwt.from-the-pipeline\n").unwrap();
    std::env::set_var("AZURE_FEDERATED_TOKEN_FILE", &file);
    let transport = Loopback::new(&[(ENTRA, &entra.base)]);

    let api = connect(&opts(&arm, Cloud::Usgovernment, &transport)).unwrap();
    api.get("/subscriptions/s", "v").await.unwrap();
    let call = &entra.seen()[0];
    assert_eq!(call.uri, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(field(&call.body, "client_id").as_deref(), Some(CLIENT));
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

/// The platform rotates the federated token in its file; a token ARM refuses is replaced with
/// one for the file's current contents.
#[tokio::test]
async fn a_rotated_federated_token_file_is_read_again() {
    if !in_own_process(
        module_path!(),
        "a_rotated_federated_token_file_is_read_again",
    ) {
        return;
    }
    let entra = Server::start().await;
    entra.push(token_reply("wi-token-one"));
    entra.push(token_reply("wi-token-two"));
    let arm = Server::start().await;
    arm.push(Reply::json(200, json!({})));
    arm.push(Reply::error(401, "InvalidAuthenticationToken", "expired"));
    arm.default_reply(Reply::json(200, json!({})));
    let _bin = set_service_principal_env();
    std::env::remove_var("AZURE_CLIENT_SECRET");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "federated.jwt.first").unwrap();
    std::env::set_var("AZURE_FEDERATED_TOKEN_FILE", &file);
    let transport = Loopback::new(&[(ENTRA, &entra.base)]);
    let api = connect(&opts(&arm, Cloud::Public, &transport)).unwrap();

    api.get("/subscriptions/s", "v").await.unwrap();
    // The platform rotates the file; ARM then refuses the first token.
    std::fs::write(&file, "federated.jwt.second").unwrap();
    api.get("/subscriptions/s", "v").await.unwrap();
    let calls = entra.seen();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        field(&calls[0].body, "client_assertion").as_deref(),
        Some("federated.jwt.first")
    );
    assert_eq!(
        field(&calls[1].body, "client_assertion").as_deref(),
        Some("federated.jwt.second")
    );
    let seen = arm.seen();
    assert_eq!(seen[0].headers["authorization"], "Bearer wi-token-one");
    assert_eq!(seen[1].headers["authorization"], "Bearer wi-token-one");
    assert_eq!(seen[2].headers["authorization"], "Bearer wi-token-two");

    // A file that is not a regular file, or too large, is refused without reading it.
    for (path, why) in [
        ("/dev/zero", "not a regular file"),
        ("/", "not a regular file"),
    ] {
        std::env::set_var("AZURE_FEDERATED_TOKEN_FILE", path);
        let api = connect(&opts(&arm, Cloud::Public, &transport)).unwrap();
        let err = api.get("/subscriptions/s", "v").await.unwrap_err();
        let out = moat::report::render_error(&err);
        assert!(
            out.contains(&format!("cannot read AZURE_FEDERATED_TOKEN_FILE {path}")),
            "{out}"
        );
        assert!(out.contains(why), "{out}");
    }
    let big = dir.path().join("big");
    let limit = moat::arm::credential::MAX_FEDERATED_TOKEN_BYTES as usize;
    std::fs::write(&big, "x".repeat(limit + 1)).unwrap();
    std::env::set_var("AZURE_FEDERATED_TOKEN_FILE", &big);
    let api = connect(&opts(&arm, Cloud::Public, &transport)).unwrap();
    let out = moat::report::render_error(&api.get("/subscriptions/s", "v").await.unwrap_err());
    assert!(out.contains("larger than 65536 bytes"), "{out}");
    assert_eq!(entra.seen().len(), 2, "nothing more was sent to Entra");
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
    let _bin = set_service_principal_env();
    let transport = Loopback::new(&[(ENTRA, &entra.base)]);

    let api = connect(&opts(&arm, Cloud::Public, &transport)).unwrap();
    assert_eq!(
        api.get("/subscriptions/s", "v").await.unwrap(),
        Some(json!({"ok": true}))
    );
    let seen = arm.seen();
    assert_eq!(seen[0].headers["authorization"], "Bearer first-token");
    // azure_identity 1.x credentials cache tokens with no way to clear them: the chain builds
    // the credential anew, so Entra is really asked again.
    assert_eq!(seen[1].headers["authorization"], "Bearer second-token");
    assert_eq!(entra.seen().len(), 2);

    // A token that is refused twice is an error, with a hint, and the token is not in it.
    let err = api.get("/subscriptions/s", "v").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let out = moat::report::render_error(&err);
    assert!(out.contains("hint: the access token was refused"), "{out}");
    assert!(!out.contains("second-token"), "{out}");
}

/// The client secret goes to the authority host: an http:// one, a bare host name or one with
/// userinfo is refused before anything is sent (0.21 accepted http://).
#[tokio::test]
async fn an_authority_host_that_is_not_https_is_refused() {
    if !in_own_process(
        module_path!(),
        "an_authority_host_that_is_not_https_is_refused",
    ) {
        return;
    }
    let arm = Server::start().await;
    let _bin = set_service_principal_env();
    let transport = Loopback::new(&[]);
    for bad in [
        "http://127.0.0.1:9",
        "login.microsoftonline.us",
        "https://me:pw-in-the-url@login.moat.test",
    ] {
        std::env::set_var("AZURE_AUTHORITY_HOST", bad);
        let err = connect(&opts(&arm, Cloud::Public, &transport))
            .err()
            .expect("refused");
        let out = moat::report::render_error(&err);
        assert!(out.contains("AZURE_AUTHORITY_HOST"), "{out}");
        assert!(!out.contains("pw-in-the-url"), "{out}");
    }
    assert!(arm.seen().is_empty());
    assert!(transport.refused().is_empty());
}

/// Entra refuses the service principal (and echoes its secret, as a hostile or broken endpoint
/// might): the error names every credential tried, the secret is not in it, and the hint says
/// how to sign in.
#[tokio::test]
async fn a_refused_service_principal_is_reported_without_its_secret() {
    if !in_own_process(
        module_path!(),
        "a_refused_service_principal_is_reported_without_its_secret",
    ) {
        return;
    }
    let entra = Server::start().await;
    entra.default_reply(Reply::json(
        401,
        json!({"error": "invalid_client", "error_codes": [7000215],
               "error_description": format!("AADSTS7000215: Invalid client secret provided: {SECRET}")}),
    ));
    let imds = Server::start().await;
    imds.default_reply(Reply::json(400, json!({"error": "invalid_request"})));
    let arm = Server::start().await;
    let _bin = set_service_principal_env();
    let transport = Loopback::new(&[(ENTRA, &entra.base), (IMDS, &imds.base)]);

    let api = connect(&opts(&arm, Cloud::Public, &transport)).unwrap();
    let err = api.get("/subscriptions/s", "v").await.unwrap_err();
    let out = moat::report::render_error(&err);
    assert!(
        out.contains("could not get an access token for ARM"),
        "{out}"
    );
    assert!(
        out.contains("- environment (client secret): ClientSecretCredential authentication failed"),
        "{out}"
    );
    assert!(out.contains("AADSTS7000215"), "{out}");
    assert!(out.contains("- managed identity (IMDS): "), "{out}");
    assert!(out.contains("- Azure CLI: "), "{out}");
    assert!(out.contains("az not found on PATH"), "{out}");
    assert!(
        out.contains("hint: moat signs in with the first of"),
        "{out}"
    );
    assert!(!out.contains(SECRET), "{out}");
    assert!(arm.seen().is_empty(), "no request without a token");
    assert!(transport.refused().is_empty());
}

/// A credential that counts how often it is asked, and hands out tokens valid for `valid`.
#[derive(Debug)]
struct Counting {
    calls: std::sync::atomic::AtomicUsize,
    valid: time::Duration,
}

#[async_trait::async_trait]
impl azure_core::credentials::TokenCredential for Counting {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        assert_eq!(scopes, ["https://management.chinacloudapi.cn/.default"]);
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Slow, like `az account get-access-token`: concurrent requests must not each start one.
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        Ok(azure_core::credentials::AccessToken::new(
            format!("counted-{n}"),
            time::OffsetDateTime::now_utc() + self.valid,
        ))
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
            credential: Arc::new(moat::arm::credential::CredentialChain::of(vec![(
                "counting".into(),
                cred.clone() as Arc<dyn azure_core::credentials::TokenCredential>,
            )])),
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

//! The HTTP client against a scripted server on 127.0.0.1: headers, retries and their budgets,
//! fail-fast codes, transport failures, the same-origin rule for ARM-provided URLs, redirects,
//! paging, the concurrency limit, the request budget, and what gets logged.

use crate::arm_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arm_support::{fast_lro, Reply, Server};
use moat::arm::http::HttpTimeouts;
use moat::arm::limiter::{Bucket, LimiterConfig};
use moat::arm::{
    connect_http, ArmApi, ArmError, ArmRequest, ConnectOptions, HttpArm, Method, Precondition,
    RetryPolicy,
};
use serde_json::json;

const TOKEN: &str = "tok-SECRET-0123456789";
const SUB: &str = "00000000-0000-0000-0000-00000000000a";

fn acct() -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a1"
    )
}

fn client_with(server: &Server, retry: RetryPolicy) -> HttpArm {
    connect_http(&ConnectOptions {
        arm_endpoint: Some(server.base.clone()),
        access_token: Some(TOKEN.into()),
        retry,
        lro: fast_lro(),
        ..Default::default()
    })
    .unwrap()
}

fn client(server: &Server) -> HttpArm {
    client_with(server, RetryPolicy::default().zero_delays())
}

#[tokio::test]
async fn sends_bearer_token_api_version_and_ids() {
    let s = Server::start().await;
    s.push(Reply::json(200, json!({"name": "a1"})).header("x-ms-request-id", "r1"));
    let arm = client(&s);
    let got = arm.get(&acct(), "2024-10-01").await.unwrap();
    assert_eq!(got, Some(json!({"name": "a1"})));
    let seen = s.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].uri, format!("{}?api-version=2024-10-01", acct()));
    assert_eq!(seen[0].headers["authorization"], format!("Bearer {TOKEN}"));
    assert!(uuid::Uuid::parse_str(&seen[0].headers["x-ms-client-request-id"]).is_ok());
    assert!(seen[0].headers["user-agent"].starts_with("moat/"));
}

#[tokio::test]
async fn caller_cannot_smuggle_an_authorization_header() {
    let s = Server::start().await;
    s.push(Reply::json(200, json!({})));
    let arm = client(&s);
    let req = ArmRequest::new(Method::Get, acct(), "v").with_header("Authorization", "Basic x");
    arm.send(req).await.unwrap();
    assert_eq!(
        s.seen()[0].headers["authorization"],
        format!("Bearer {TOKEN}")
    );
}

#[tokio::test]
async fn put_sends_json_body_and_returns_404_as_absent() {
    let s = Server::start().await;
    s.push(Reply::error(404, "ResourceNotFound", "no"));
    s.push(Reply::json(
        200,
        json!({"properties": {"provisioningState": "Succeeded"}}),
    ));
    let arm = client(&s);
    assert_eq!(arm.get(&acct(), "v").await.unwrap(), None);
    arm.put(
        &acct(),
        "v",
        &json!({"location": "westus"}),
        Precondition::IfMatch("\"e1\"".into()),
    )
    .await
    .unwrap();
    let seen = s.seen();
    assert_eq!(seen[1].method, "PUT");
    assert_eq!(seen[1].headers["content-type"], "application/json");
    assert_eq!(seen[1].headers["if-match"], "\"e1\"");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&seen[1].body).unwrap(),
        json!({"location": "westus"})
    );
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let s = Server::start().await;
    s.push(Reply::error(503, "ServiceUnavailable", "busy"));
    s.push(Reply::empty(500));
    s.push(Reply::error(408, "RequestTimeout", "slow"));
    s.push(Reply::json(200, json!({"ok": 1})));
    let arm = client(&s);
    assert_eq!(arm.get(&acct(), "v").await.unwrap(), Some(json!({"ok": 1})));
    let st = arm.stats();
    assert_eq!((st.reads, st.writes, st.retries), (4, 0, 3));
}

#[tokio::test]
async fn giving_up_says_how_many_retries_over_how_long() {
    let s = Server::start().await;
    s.default_reply(
        Reply::error(503, "ServerBusy", "try later")
            .header("x-ms-request-id", "rid-7")
            .header("x-ms-correlation-request-id", "cid-7"),
    );
    let arm = client_with(
        &s,
        RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        }
        .zero_delays(),
    );
    let err = arm
        .put(&acct(), "v", &json!({}), Precondition::None)
        .await
        .unwrap_err();
    assert_eq!(s.seen().len(), 3);
    match &err {
        ArmError::Response {
            status,
            code,
            retries,
            request_id,
            correlation_id,
            method,
            ..
        } => {
            assert_eq!((*status, code.as_str(), *retries), (503, "ServerBusy", 2));
            assert_eq!(request_id.as_deref(), Some("rid-7"));
            assert_eq!(correlation_id.as_deref(), Some("cid-7"));
            assert_eq!(*method, Method::Put);
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("PUT {} failed after 2 retries in ", acct())),
        "{text}"
    );
    assert!(text.ends_with("s: 503 ServerBusy: try later"), "{text}");
    let rendered = moat::report::render_error(&err);
    assert!(
        rendered.contains("ARM request id: rid-7, correlation id: cid-7"),
        "{rendered}"
    );
}

#[tokio::test]
async fn retry_after_from_the_server_is_waited() {
    let s = Server::start().await;
    s.push(
        Reply::error(
            429,
            "SubscriptionRequestsThrottled",
            "Number of read requests exceeded",
        )
        .header("retry-after-ms", "120"),
    );
    s.push(Reply::json(200, json!({})));
    // Real delays, tiny backoff: only the server's Retry-After can explain the wait.
    let arm = client_with(
        &s,
        RetryPolicy {
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        },
    );
    let t0 = Instant::now();
    arm.get(&acct(), "v").await.unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(120),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(s.seen().len(), 2);
}

#[tokio::test]
async fn conflicts_retry_but_other_409s_fail_fast() {
    let s = Server::start().await;
    s.push(Reply::error(
        409,
        "RequestConflict",
        "Another operation is being performed on the parent resource",
    ));
    s.push(Reply::error(
        429,
        "RetryableErrorDueToAnotherOperation",
        "subnet busy",
    ));
    s.push(Reply::error(
        409,
        "AnotherOperationInProgress",
        "Another operation on this or dependent resource is in progress",
    ));
    let path = format!("{}/deployments/d", acct());
    s.push(Reply::json(200, json!({ "id": path })));
    let arm = client(&s);
    arm.put(&path, "v", &json!({}), Precondition::None)
        .await
        .unwrap();
    assert_eq!(s.seen().len(), 4);

    s.push(Reply::error(
        409,
        "RoleAssignmentExists",
        "The role assignment already exists.",
    ));
    let err = arm
        .put(&path, "v", &json!({}), Precondition::None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("RoleAssignmentExists"));
    assert_eq!(s.seen().len(), 5, "no retry");
}

#[tokio::test]
async fn principal_not_found_is_retried_within_its_own_bound() {
    let s = Server::start().await;
    s.default_reply(Reply::error(
        400,
        "PrincipalNotFound",
        "Principal 1234 does not exist in the directory",
    ));
    let policy = RetryPolicy {
        principal_retries: 3,
        max_retries: 0,
        ..RetryPolicy::default()
    }
    .zero_delays();
    let arm = client_with(&s, policy);
    let err = arm
        .put(
            "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/g",
            "v",
            &json!({}),
            Precondition::None,
        )
        .await
        .unwrap_err();
    assert_eq!(s.seen().len(), 4);
    assert_eq!(err.code(), Some("PrincipalNotFound"));
    assert_eq!(err.retries().map(|r| r.0), Some(3));
    assert!(err.hint().unwrap().contains("replicated"));
}

#[tokio::test]
async fn other_errors_fail_fast_with_a_hint() {
    let s = Server::start().await;
    s.push(Reply::error(403, "AuthorizationFailed", "The client 'c' with object id 'o' does not have authorization to perform action 'Microsoft.CognitiveServices/accounts/read' over scope '/subscriptions/x' or the scope is invalid."));
    let arm = client(&s);
    let err = arm.get(&acct(), "v").await.unwrap_err();
    assert_eq!(s.seen().len(), 1);
    assert_eq!(err.status(), Some(403));
    let out = moat::report::render_error(&err);
    assert!(
        out.starts_with(&format!(
            "error: GET {} failed: 403 AuthorizationFailed",
            acct()
        )),
        "{out}"
    );
    assert!(out.contains("hint: the identity moat runs as lacks the permission `Microsoft.CognitiveServices/accounts/read` on /subscriptions/x; the built-in role Reader grants it"), "{out}");
}

#[tokio::test]
async fn a_final_error_after_retries_carries_the_count() {
    let s = Server::start().await;
    s.push(Reply::error(503, "ServiceUnavailable", "busy"));
    s.push(Reply::error(400, "InvalidRequestContent", "bad body"));
    let arm = client(&s);
    let err = arm
        .send(ArmRequest::new(Method::Put, acct(), "v"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidRequestContent"));
    assert_eq!(err.retries().map(|r| r.0), Some(1));
}

#[tokio::test]
async fn gateway_html_errors_keep_their_text() {
    let s = Server::start().await;
    s.default_reply(
        Reply::text(502, "<html>Bad Gateway</html>").header("content-type", "text/html"),
    );
    let arm = client_with(
        &s,
        RetryPolicy {
            max_retries: 1,
            ..RetryPolicy::default()
        }
        .zero_delays(),
    );
    let err = arm.get(&acct(), "v").await.unwrap_err();
    assert_eq!(err.code(), Some("Http502"));
    assert!(
        err.to_string().contains("<html>Bad Gateway</html>"),
        "{err}"
    );
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let arm = connect_http(&ConnectOptions {
        arm_endpoint: Some(format!("http://127.0.0.1:{port}")),
        access_token: Some(TOKEN.into()),
        retry: RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        }
        .zero_delays(),
        ..Default::default()
    })
    .unwrap();
    let err = arm.get(&acct(), "v").await.unwrap_err();
    match &err {
        ArmError::Transport {
            retries,
            method,
            resource,
            ..
        } => {
            assert_eq!((*retries, *method), (2, Method::Get));
            assert_eq!(resource, &acct());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("failed after 2 retries in"),
        "{err}"
    );
    assert!(!err.to_string().contains(TOKEN));
    assert_eq!(arm.stats().retries, 2);
}

#[tokio::test]
async fn read_timeouts_are_retried_for_idempotent_verbs_only() {
    let s = Server::start().await;
    let arm = client(&s)
        .with_timeouts(HttpTimeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_millis(400),
            ..HttpTimeouts::default()
        })
        .unwrap();
    s.push(Reply::json(200, json!({"late": true})).after(Duration::from_millis(2000)));
    s.push(Reply::json(200, json!({"ok": true})));
    assert_eq!(
        arm.get(&acct(), "v").await.unwrap(),
        Some(json!({"ok": true}))
    );

    // A POST action may have been carried out; it is not re-sent after a timeout.
    s.push(Reply::json(200, json!({})).after(Duration::from_millis(2000)));
    let err = arm
        .post(
            &format!("{}/regenerateKey", acct()),
            "v",
            Some(&json!({"keyName": "Key1"})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ArmError::Transport { retries: 0, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn urls_from_arm_must_stay_on_the_endpoint_origin() {
    let s = Server::start().await;
    let other = Server::start().await;
    other.default_reply(Reply::json(200, json!({"value": []})));
    s.push(Reply::json(
        200,
        json!({"value": [{"id": 1}], "nextLink": other.url("/page2")}),
    ));
    let arm = client(&s);
    let err = arm
        .list(&format!("{}/deployments", acct()), "v")
        .await
        .unwrap_err();
    assert!(matches!(err, ArmError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("refusing to follow"), "{err}");

    s.push(Reply::empty(202).header("Location", other.url("/op")));
    let err = arm
        .delete(&acct(), "v", Precondition::None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refusing to follow"), "{err}");
    assert!(
        other.seen().is_empty(),
        "the token never went to the other origin"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let s = Server::start().await;
    let other = Server::start().await;
    s.push(Reply::empty(307).header("Location", other.url("/steal")));
    let arm = client(&s);
    let resp = arm
        .send(ArmRequest::new(Method::Get, acct(), "v"))
        .await
        .unwrap();
    assert_eq!(resp.status, 307);
    assert!(other.seen().is_empty());
}

#[tokio::test]
async fn list_follows_next_link_to_the_end() {
    let s = Server::start().await;
    s.push(Reply::json(200, json!({"value": [{"n": 1}], "nextLink": s.url("/subscriptions/x/p?$skipToken=2&api-version=v")})));
    s.push(Reply::json(
        200,
        json!({"value": [], "nextLink": s.url("/subscriptions/x/p?$skipToken=3&api-version=v")}),
    ));
    s.push(Reply::json(
        200,
        json!({"value": [{"n": 2}], "nextLink": null}),
    ));
    let arm = client(&s);
    let items = arm.list("/subscriptions/x/p", "v").await.unwrap();
    assert_eq!(items, vec![json!({"n": 1}), json!({"n": 2})]);
    let seen = s.seen();
    assert_eq!(
        seen[1].uri, "/subscriptions/x/p?$skipToken=2&api-version=v",
        "nextLink used verbatim"
    );
    assert_eq!(seen.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallelism_bounds_requests_in_flight() {
    let s = Server::start().await;
    s.default_reply(Reply::json(200, json!({})).after(Duration::from_millis(40)));
    let arm = Arc::new(client(&s).with_parallelism(3));
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let arm = arm.clone();
            tokio::spawn(async move { arm.get(&format!("/subscriptions/x/r{i}"), "v").await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let max = s.max_in_flight();
    assert!(
        (2..=3).contains(&max),
        "at most 3 in flight, and some concurrency: {max}"
    );
    assert_eq!(arm.stats().reads, 12);
}

#[tokio::test]
async fn remaining_headers_resync_the_request_budget() {
    let s = Server::start().await;
    s.push(Reply::json(200, json!({})).header("x-ms-ratelimit-remaining-subscription-reads", "0"));
    s.default_reply(Reply::json(200, json!({})));
    let arm = client(&s).with_limiter(LimiterConfig {
        read_capacity: 250,
        read_refill_per_sec: 20,
        ..LimiterConfig::default()
    });
    arm.get(&acct(), "v").await.unwrap();
    let left = arm.limiter().available(SUB, Bucket::Read, Instant::now());
    assert!(left < 1.0, "ARM said none left: {left}");
    let t0 = Instant::now();
    arm.get(&acct(), "v").await.unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(35),
        "waited for a token: {:?}",
        t0.elapsed()
    );
    assert_eq!(arm.stats().throttled, 1);
    // Writes have their own bucket and are not held back.
    arm.put(&acct(), "v", &json!({}), Precondition::None)
        .await
        .unwrap();
    assert_eq!(arm.stats().throttled, 1);
}

#[tokio::test]
async fn long_running_put_end_to_end() {
    let s = Server::start().await;
    let op = s.url(&format!("/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/locations/westus/operationResults/o1?api-version=v"));
    let path = format!("{}/deployments/gpt", acct());
    s.push(
        Reply::json(
            201,
            json!({"properties": {"provisioningState": "Accepted"}}),
        )
        .header("Azure-AsyncOperation", op.clone())
        .header("Retry-After", "0"),
    );
    s.push(Reply::json(200, json!({"status": "InProgress"})));
    s.push(Reply::json(200, json!({"status": "Succeeded"})));
    s.push(Reply::json(
        200,
        json!({"name": "gpt", "properties": {"provisioningState": "Succeeded"}}),
    ));
    let arm = client(&s);
    let out = arm
        .put(&path, "v", &json!({}), Precondition::None)
        .await
        .unwrap();
    assert_eq!(out.unwrap()["name"], "gpt");
    let st = arm.stats();
    assert_eq!((st.writes, st.reads, st.polls), (1, 3, 2));
    let seen = s.seen();
    assert!(seen[1].uri.contains("operationResults/o1?api-version=v"));
    assert!(seen
        .iter()
        .all(|r| r.headers["authorization"] == format!("Bearer {TOKEN}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_429_holds_other_requests_on_the_subscription() {
    let s = Server::start().await;
    s.push(
        Reply::error(
            429,
            "SubscriptionRequestsThrottled",
            "Please try again after '0.2' seconds.",
        )
        .header("retry-after-ms", "200"),
    );
    s.default_reply(Reply::json(200, json!({})));
    let arm = Arc::new(client_with(
        &s,
        RetryPolicy {
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        },
    ));
    let first = {
        let arm = arm.clone();
        tokio::spawn(async move { arm.get(&acct(), "v").await })
    };
    while s.seen().is_empty() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Sent after the 429 arrived: it waits out the Retry-After instead of collecting its own 429.
    let t0 = Instant::now();
    arm.get(&format!("/subscriptions/{SUB}/resourceGroups/rg"), "v")
        .await
        .unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(120),
        "{:?}",
        t0.elapsed()
    );
    first.await.unwrap().unwrap();
    assert_eq!(s.seen().len(), 3);
    // Another subscription is not held.
    let throttled = arm.stats().throttled;
    assert!(throttled >= 1);
    arm.get("/subscriptions/other/resourceGroups/rg", "v")
        .await
        .unwrap();
    assert_eq!(arm.stats().throttled, throttled);
}

#[tokio::test]
async fn a_success_that_is_not_json_is_a_protocol_error() {
    let s = Server::start().await;
    s.push(Reply::text(200, "<html>captive portal</html>").header("content-type", "text/html"));
    let arm = client(&s);
    let err = arm.get(&acct(), "v").await.unwrap_err();
    assert!(matches!(err, ArmError::Protocol { .. }), "{err:?}");
    assert_eq!(s.seen().len(), 1, "not retried");
}

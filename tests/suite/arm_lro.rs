//! The long-running-operation poller against scripted ARM exchanges (ARM-PROTOCOL.md §1.4): each
//! LRO style, Retry-After floor and cap, the time budget, and Failed / Canceled with ARM's error.
//! Waits run on tokio's paused clock, so the asserted intervals are exact and the tests instant.

use crate::arm_support;

use std::time::Duration;

use arm_support::{resp, Scripted};
use moat::arm::lro::{retry_after, LroOptions};
use moat::arm::{ArmApi, ArmError, Method, Precondition};
use serde_json::json;
use tokio::time::Instant;

const ACCT: &str =
    "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a1";
const API: &str = "2024-10-01";
const OP: &str = "https://management.azure.com/subscriptions/s1/providers/Microsoft.CognitiveServices/locations/westus/operationResults/op1?api-version=2024-10-01";

fn state(s: &str) -> serde_json::Value {
    json!({"name": "a1", "properties": {"provisioningState": s, "publicNetworkAccess": "Disabled"}})
}

fn op_status(s: &str) -> serde_json::Value {
    json!({"id": "op1", "name": "op1", "status": s})
}

#[tokio::test]
async fn sync_200_with_terminal_or_absent_state_needs_no_poll() {
    let api = Scripted::new().expect(Method::Put, ACCT, resp(200, Some(state("Succeeded")), &[]));
    let out = api
        .put(ACCT, API, &json!({}), Precondition::None)
        .await
        .unwrap();
    assert_eq!(out, Some(state("Succeeded")));
    let api = Scripted::new().expect(
        Method::Put,
        "roleAssignments/x",
        resp(201, Some(json!({"id": "x"})), &[]),
    );
    let out = api
        .put(
            "/s/providers/Microsoft.Authorization/roleAssignments/x",
            API,
            &json!({}),
            Precondition::None,
        )
        .await
        .unwrap();
    assert_eq!(out, Some(json!({"id": "x"})));
    assert_eq!(api.polls(), 0);
}

#[tokio::test]
async fn network_style_200_with_async_header_and_succeeded_is_final() {
    let api = Scripted::new().expect(
        Method::Put,
        "subnets/snet",
        resp(
            200,
            Some(state("Succeeded")),
            &[("Azure-AsyncOperation", OP)],
        ),
    );
    api.put("/x/subnets/snet", API, &json!({}), Precondition::None)
        .await
        .unwrap();
    assert_eq!(api.polls(), 0);
    assert_eq!(api.remaining(), 0);
}

#[tokio::test]
async fn put_201_without_headers_polls_the_resource() {
    let api = Scripted::new()
        .expect(Method::Put, ACCT, resp(201, Some(state("Creating")), &[]))
        .expect(Method::Get, ACCT, resp(200, Some(state("Creating")), &[]))
        .expect(Method::Get, ACCT, resp(200, Some(state("Succeeded")), &[]));
    let out = api
        .put(ACCT, API, &json!({}), Precondition::None)
        .await
        .unwrap();
    assert_eq!(out, Some(state("Succeeded")));
    assert_eq!(api.polls(), 2);
    let sent = api.sent.lock().unwrap().clone();
    assert_eq!(
        sent[1].api_version.as_deref(),
        Some(API),
        "polls keep the api-version"
    );
    assert!(sent[1].body.is_none() && sent[1].headers.is_empty());
}

#[tokio::test]
async fn put_201_with_azure_async_operation_then_reads_the_original_uri() {
    let api = Scripted::new()
        .expect(
            Method::Put,
            "deployments/gpt",
            resp(
                201,
                Some(state("Accepted")),
                &[("Azure-AsyncOperation", OP), ("Retry-After", "1")],
            ),
        )
        .expect(
            Method::Get,
            "operationResults/op1",
            resp(200, Some(op_status("InProgress")), &[]),
        )
        .expect(
            Method::Get,
            "operationResults/op1",
            resp(200, Some(op_status("Succeeded")), &[]),
        )
        .expect(
            Method::Get,
            "deployments/gpt",
            resp(200, Some(state("Succeeded")), &[]),
        );
    let path = format!("{ACCT}/deployments/gpt");
    let out = api
        .put(&path, API, &json!({}), Precondition::None)
        .await
        .unwrap();
    assert_eq!(out, Some(state("Succeeded")));
    assert_eq!(
        api.polls(),
        2,
        "two status reads (the final read is not a poll)"
    );
    let sent = api.sent.lock().unwrap().clone();
    assert_eq!(sent[1].path, OP, "status URL followed verbatim");
    assert_eq!(sent[1].api_version, None);
    assert_eq!(sent[3].path, path);
}

#[tokio::test]
async fn put_202_with_location_returns_the_location_result() {
    // Microsoft.CognitiveServices accounts: 202 + Location, Location answers 202 until done and
    // then the synchronous result.
    let api = Scripted::new()
        .expect(
            Method::Put,
            ACCT,
            resp(202, Some(state("Accepted")), &[("Location", OP)]),
        )
        .expect(Method::Get, "op1", resp(202, None, &[("Location", OP)]))
        .expect(Method::Get, "op1", resp(200, Some(state("Succeeded")), &[]));
    let out = api
        .put(ACCT, API, &json!({}), Precondition::None)
        .await
        .unwrap();
    assert_eq!(out, Some(state("Succeeded")));
    assert_eq!(api.remaining(), 0);
}

#[tokio::test]
async fn patch_202_location_without_body_reads_the_resource() {
    let api = Scripted::new()
        .expect(Method::Patch, ACCT, resp(202, None, &[("Location", OP)]))
        .expect(Method::Get, "op1", resp(200, None, &[]))
        .expect(Method::Get, ACCT, resp(200, Some(state("Succeeded")), &[]));
    let out = api
        .patch(ACCT, API, &json!({}), Precondition::None)
        .await
        .unwrap();
    assert_eq!(out, Some(state("Succeeded")));
}

#[tokio::test]
async fn delete_styles() {
    // 202 + Location → 200.
    let api = Scripted::new()
        .expect(Method::Delete, ACCT, resp(202, None, &[("Location", OP)]))
        .expect(Method::Get, "op1", resp(202, None, &[]))
        .expect(Method::Get, "op1", resp(204, None, &[]));
    api.delete(ACCT, API, Precondition::None).await.unwrap();
    assert_eq!(api.remaining(), 0);
    // Already gone: 204 immediately, and 404 is also success for a delete.
    let api = Scripted::new().expect(Method::Delete, ACCT, resp(204, None, &[]));
    api.delete(ACCT, API, Precondition::None).await.unwrap();
    let api = Scripted::new().expect(Method::Delete, ACCT, resp(404, None, &[]));
    api.delete(ACCT, API, Precondition::None).await.unwrap();
    // 202 without headers: poll the resource until it is gone.
    let api = Scripted::new()
        .expect(Method::Delete, ACCT, resp(202, None, &[]))
        .expect(Method::Get, ACCT, resp(200, Some(state("Deleting")), &[]))
        .expect(Method::Get, ACCT, resp(404, None, &[]));
    api.delete(ACCT, API, Precondition::None).await.unwrap();
    assert_eq!(api.polls(), 2);
    // Azure-AsyncOperation on delete: no final read.
    let api = Scripted::new()
        .expect(
            Method::Delete,
            ACCT,
            resp(202, None, &[("Azure-AsyncOperation", OP), ("Location", OP)]),
        )
        .expect(
            Method::Get,
            "op1",
            resp(200, Some(op_status("Succeeded")), &[]),
        );
    api.delete(ACCT, API, Precondition::None).await.unwrap();
    assert_eq!(api.remaining(), 0);
}

#[tokio::test]
async fn post_with_async_operation_reads_location_for_the_result() {
    let loc = "https://management.azure.com/subscriptions/s1/providers/X/locations/w/results/r1";
    let api = Scripted::new()
        .expect(
            Method::Post,
            "pause",
            resp(
                202,
                None,
                &[("Azure-AsyncOperation", OP), ("Location", loc)],
            ),
        )
        .expect(
            Method::Get,
            "op1",
            resp(200, Some(op_status("Succeeded")), &[]),
        )
        .expect(
            Method::Get,
            "results/r1",
            resp(200, Some(json!({"ok": true})), &[]),
        );
    let out = api
        .post(&format!("{ACCT}/deployments/d/pause"), API, None)
        .await
        .unwrap();
    assert_eq!(out, Some(json!({"ok": true})));
}

#[tokio::test]
async fn failed_operation_surfaces_arm_error_with_details() {
    let body = json!({"status": "Failed", "error": {"code": "InvalidResourceProperties",
        "message": "The SKU is not supported.", "details": [{"code": "SkuNotSupported",
        "message": "S9 is not a SKU"}]}});
    let api = Scripted::new()
        .expect(
            Method::Put,
            ACCT,
            resp(
                201,
                Some(state("Creating")),
                &[("Azure-AsyncOperation", OP)],
            ),
        )
        .expect(
            Method::Get,
            "op1",
            resp(200, Some(body), &[("x-ms-request-id", "rid-42")]),
        );
    let err = api
        .put(ACCT, API, &json!({}), Precondition::None)
        .await
        .unwrap_err();
    match &err {
        ArmError::OperationFailed {
            method,
            resource,
            status,
            code,
            message,
            details,
            request_id,
        } => {
            assert_eq!(*method, Method::Put);
            assert_eq!(resource, ACCT);
            assert_eq!(status, "Failed");
            assert_eq!(code, "InvalidResourceProperties");
            assert_eq!(message, "The SKU is not supported.");
            assert_eq!(details[0].code, "SkuNotSupported");
            assert_eq!(request_id.as_deref(), Some("rid-42"));
        }
        other => panic!("wrong error {other:?}"),
    }
    assert!(err
        .to_string()
        .contains("operation ended Failed: InvalidResourceProperties"));
}

#[tokio::test]
async fn canceled_and_failed_provisioning_states() {
    let api = Scripted::new()
        .expect(
            Method::Put,
            ACCT,
            resp(
                201,
                Some(state("Creating")),
                &[("Azure-AsyncOperation", OP)],
            ),
        )
        .expect(
            Method::Get,
            "op1",
            resp(
                200,
                Some(json!({"status": "Canceled", "error":
            {"code": "OperationCanceled", "message": "canceled by user"}})),
                &[],
            ),
        );
    let err = api
        .put(ACCT, API, &json!({}), Precondition::None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ArmError::OperationFailed { status, code, .. }
        if status == "Canceled" && code == "OperationCanceled"),
        "{err:?}"
    );
    assert!(!err.is_superseded());

    // Resource polling: provisioningState Failed without an error body still names the state.
    let api = Scripted::new()
        .expect(Method::Put, ACCT, resp(201, Some(state("Creating")), &[]))
        .expect(Method::Get, ACCT, resp(200, Some(state("Failed")), &[]));
    let err = api
        .put(ACCT, API, &json!({}), Precondition::None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ArmError::OperationFailed { status, code, .. }
        if status == "Failed" && code == "Failed"),
        "{err:?}"
    );

    // A terminal failure in the very first response.
    let api = Scripted::new().expect(Method::Put, ACCT, resp(200, Some(state("Failed")), &[]));
    assert!(api
        .put(ACCT, API, &json!({}), Precondition::None)
        .await
        .is_err());
}

#[tokio::test]
async fn location_error_is_the_operation_failing_but_status_read_errors_are_not() {
    let api = Scripted::new()
        .expect(Method::Delete, ACCT, resp(202, None, &[("Location", OP)]))
        .expect(
            Method::Get,
            "op1",
            resp(
                400,
                Some(json!({"error": {"code": "AccountHasDeployments",
            "message": "delete the deployments first"}})),
                &[],
            ),
        );
    let err = api.delete(ACCT, API, Precondition::None).await.unwrap_err();
    assert!(
        matches!(&err, ArmError::OperationFailed { code, .. } if code == "AccountHasDeployments")
    );

    let api = Scripted::new()
        .expect(
            Method::Put,
            ACCT,
            resp(201, None, &[("Azure-AsyncOperation", OP)]),
        )
        .expect(
            Method::Get,
            "op1",
            resp(
                403,
                Some(json!({"error": {"code": "AuthorizationFailed",
            "message": "no read on the operation"}})),
                &[],
            ),
        );
    let err = api
        .put(ACCT, API, &json!({}), Precondition::None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ArmError::Response {
                status: 403,
                method: Method::Get,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn superseded_operation_is_resent() {
    let superseded = json!({"status": "Canceled", "error": {"code": "Canceled", "message":
        "Operation was canceled.", "details": [{"code": "CanceledAndSupersededDueToAnotherOperation",
        "message": "Operation PutSubnetOperation was canceled and superseded by operation PutVirtualNetworkOperation."}]}});
    let api = Scripted::new()
        .expect(
            Method::Put,
            "subnets/s",
            resp(
                201,
                Some(state("Updating")),
                &[("Azure-AsyncOperation", OP)],
            ),
        )
        .expect(Method::Get, "op1", resp(200, Some(superseded.clone()), &[]))
        .expect(
            Method::Put,
            "subnets/s",
            resp(200, Some(state("Succeeded")), &[]),
        );
    let out = api
        .put("/x/subnets/s", API, &json!({"p": 1}), Precondition::None)
        .await
        .unwrap();
    assert_eq!(out, Some(state("Succeeded")));
    let sent = api.sent.lock().unwrap().clone();
    assert_eq!(
        sent[2].body,
        Some(json!({"p": 1})),
        "the same write is re-sent"
    );

    // The re-sends are bounded.
    let mut api = Scripted::new();
    api.retry.superseded_retries = 1;
    let api = api
        .expect(
            Method::Put,
            "subnets/s",
            resp(201, None, &[("Azure-AsyncOperation", OP)]),
        )
        .expect(Method::Get, "op1", resp(200, Some(superseded.clone()), &[]))
        .expect(
            Method::Put,
            "subnets/s",
            resp(201, None, &[("Azure-AsyncOperation", OP)]),
        )
        .expect(Method::Get, "op1", resp(200, Some(superseded), &[]));
    let err = api
        .put("/x/subnets/s", API, &json!({}), Precondition::None)
        .await
        .unwrap_err();
    assert!(err.is_superseded());
    assert_eq!(api.remaining(), 0);
}

#[tokio::test(start_paused = true)]
async fn budget_ends_an_operation_that_never_finishes() {
    let mut api = Scripted::new();
    api.lro = LroOptions {
        default_interval: Duration::from_secs(10),
        min_interval: Duration::from_secs(1),
        max_interval: Duration::from_secs(60),
        budget: Duration::from_secs(35),
    };
    let mut api = api.expect(
        Method::Put,
        ACCT,
        resp(201, None, &[("Azure-AsyncOperation", OP)]),
    );
    for _ in 0..3 {
        api = api.expect(
            Method::Get,
            "op1",
            resp(200, Some(op_status("Running")), &[]),
        );
    }
    let t0 = Instant::now();
    let err = api
        .put(ACCT, API, &json!({}), Precondition::None)
        .await
        .unwrap_err();
    match err {
        ArmError::OperationTimeout { waited, method, .. } => {
            assert_eq!(method, Method::Put);
            assert_eq!(waited, Duration::from_secs(35));
        }
        other => panic!("wrong error {other:?}"),
    }
    // Polls at 10, 20, 30 s; the last wait is cut to the 5 s left.
    assert_eq!(api.polls(), 3);
    assert_eq!(t0.elapsed(), Duration::from_secs(35));
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_within_floor_and_cap() {
    let mut api = Scripted::new();
    api.lro = LroOptions {
        default_interval: Duration::from_secs(5),
        min_interval: Duration::from_secs(2),
        max_interval: Duration::from_secs(60),
        budget: Duration::from_secs(3600),
    };
    let api = api
        .expect(
            Method::Put,
            ACCT,
            resp(202, None, &[("Location", OP), ("Retry-After", "7")]),
        )
        // Retry-After 0 → floor of 2 s.
        .expect(Method::Get, "op1", resp(202, None, &[("Retry-After", "0")]))
        // 600 s → cap of 60 s.
        .expect(
            Method::Get,
            "op1",
            resp(202, None, &[("Retry-After", "600")]),
        )
        // retry-after-ms wins over Retry-After.
        .expect(
            Method::Get,
            "op1",
            resp(
                202,
                None,
                &[("retry-after-ms", "3500"), ("Retry-After", "30")],
            ),
        )
        // No header → default.
        .expect(Method::Get, "op1", resp(202, None, &[]))
        .expect(Method::Get, "op1", resp(200, Some(state("Succeeded")), &[]));
    let t0 = Instant::now();
    api.put(ACCT, API, &json!({}), Precondition::None)
        .await
        .unwrap();
    let expected = 7.0 + 2.0 + 60.0 + 3.5 + 5.0;
    assert_eq!(t0.elapsed(), Duration::from_secs_f64(expected));
}

#[test]
fn interval_arithmetic() {
    let o = LroOptions {
        default_interval: Duration::from_secs(5),
        min_interval: Duration::from_millis(500),
        max_interval: Duration::from_secs(60),
        budget: Duration::from_secs(60),
    };
    let r = |h: &[(&str, &str)]| resp(202, None, h);
    assert_eq!(o.interval(&r(&[])), Duration::from_secs(5));
    assert_eq!(
        o.interval(&r(&[("Retry-After", "15")])),
        Duration::from_secs(15)
    );
    assert_eq!(
        o.interval(&r(&[("Retry-After", "100000")])),
        Duration::from_secs(60)
    );
    assert_eq!(
        o.interval(&r(&[("x-ms-retry-after-ms", "10")])),
        Duration::from_millis(500)
    );
    assert_eq!(
        o.interval(&r(&[("Retry-After", "soon")])),
        Duration::from_secs(5)
    );
    // HTTP-date form, in the past → floor.
    assert_eq!(
        o.interval(&r(&[("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")])),
        Duration::from_millis(500)
    );
    assert_eq!(
        retry_after(&r(&[("retry-after-ms", "1200")])),
        Some(Duration::from_millis(1200))
    );
    // A floor above the cap: the floor wins rather than panicking.
    let odd = LroOptions {
        min_interval: Duration::from_secs(9),
        max_interval: Duration::from_secs(3),
        ..o
    };
    assert_eq!(odd.interval(&r(&[])), Duration::from_secs(9));
}

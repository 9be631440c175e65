//! MOAT-IM-003 from the activity log (issue 20): an account that keeps key auth on without
//! `keyRotation` is judged by the `regenerateKey` events of its activity log (90 days). The
//! emulator's clock is fixed; a seed plants old events and old accounts, and the test
//! regenerates keys as a caller would, which the emulator records in the log.

use std::sync::Arc;
use std::time::Duration;

use moat::arm::{ArmRequest, Method};
use moat::audit::discover::scopes;
use moat::audit::run::audit;
use moat::emulator::clock::ManualClock;
use moat::emulator::{EmulatorConfig, EmulatorHandle};
use serde_json::{json, Value};

use crate::support::e2e::*;

const SUB: &str = "5d8e1f3a-7b2c-4e96-a0d4-3c6b9e2f1a87";
const LOG: &str =
    "/subscriptions/5d8e1f3a-7b2c-4e96-a0d4-3c6b9e2f1a87/providers/Microsoft.Insights/eventtypes/management/values";
const COGNITIVE_API: &str = "2024-10-01";
/// Long before the 90-day window that ends at the emulator's 2026-01-01.
const LONG_AGO: &str = "2025-01-15T00:00:00Z";

fn account_id(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg-keys/providers/Microsoft.CognitiveServices/accounts/{name}")
}

fn account(name: &str, keys_off: bool, created: Option<&str>) -> Value {
    let mut a = json!({
        "id": account_id(name),
        "name": name,
        "type": "Microsoft.CognitiveServices/accounts",
        "location": "eastus",
        "kind": "OpenAI",
        "sku": {"name": "S0"},
        "properties": {"customSubDomainName": name, "disableLocalAuth": keys_off}
    });
    if let Some(c) = created {
        a["properties"]["dateCreated"] = json!(c);
    }
    a
}

/// A `Succeeded` regeneration of `key` on `name` at `at`, as the activity log lists it.
fn regenerated_event(name: &str, key: &str, at: &str, n: u32) -> Value {
    json!({
        "id": format!("{}/events/0f3c2a1e-9b7d-4c55-8e21-6a4d3b2c1f{n:02}/ticks/63900000000000000{n}", account_id(name)),
        "operationName": {
            "value": "Microsoft.CognitiveServices/accounts/regenerateKey/action",
            "localizedValue": "Regenerate Key"
        },
        "status": {"value": "Succeeded", "localizedValue": "Succeeded"},
        "eventTimestamp": at,
        "correlationId": format!("7c1e5a2b-3d4f-4a6b-9c8d-0e1f2a3b4c{n:02}"),
        "properties": {"requestbody": format!("{{\"keyName\":\"{key}\"}}"), "statusCode": "OK"}
    })
}

/// The emulator at 2026-01-01 with pages of one item (so every list follows `nextLink`):
/// `old-keys` created long ago whose Key2 was regenerated in the window and Key1 only before it,
/// `fresh-keys` created long ago (both keys regenerated below), `young-keys` created now, and
/// `keys-off` created long ago with key auth disabled.
async fn emulator() -> (EmulatorHandle, ManualClock) {
    let clock = ManualClock::new();
    let mut cfg = EmulatorConfig::default();
    cfg.lro.enabled = false;
    cfg.page_size = Some(1);
    cfg.clock = Arc::new(clock.clone());
    let emu = EmulatorHandle::start(cfg).await.unwrap();
    emu.seed(&[
        json!({"id": format!("/subscriptions/{SUB}/resourceGroups/rg-keys"), "name": "rg-keys", "location": "eastus"}),
        account("old-keys", false, Some(LONG_AGO)),
        account("fresh-keys", false, Some(LONG_AGO)),
        account("young-keys", false, None),
        account("keys-off", true, Some(LONG_AGO)),
        // Before the window (2025-10-03 on): Azure no longer has it.
        regenerated_event("old-keys", "Key1", "2025-09-01T08:00:00Z", 1),
        regenerated_event("old-keys", "Key2", "2025-12-20T08:00:00Z", 2),
    ])
    .unwrap();
    (emu, clock)
}

fn log_requests(emu: &EmulatorHandle) -> usize {
    emu.request_log()
        .iter()
        .filter(|e| e.path.eq_ignore_ascii_case(LOG))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_finds_a_key_older_than_the_activity_log_window_once() {
    let (emu, clock) = emulator().await;
    let api = connect(&emu);
    for key in ["Key1", "Key2"] {
        let path = format!("{}/regenerateKey", account_id("fresh-keys"));
        let body = json!({ "keyName": key });
        tokio::time::timeout(
            Duration::from_secs(30),
            api.post(&path, COGNITIVE_API, Some(&body)),
        )
        .await
        .expect("regenerates within 30 s")
        .unwrap();
    }
    clock.advance(Duration::from_secs(3600));
    emu.clear_request_log();

    let report = tokio::time::timeout(
        Duration::from_secs(60),
        audit(api, &scopes(&[SUB.into()], &[]), None),
    )
    .await
    .expect("audit within a minute")
    .expect("audit");
    let im003: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule.id == "MOAT-IM-003")
        .collect();
    assert_eq!(im003.len(), 1, "{im003:#?}");
    let f = im003[0];
    assert_eq!(f.instance, "old-keys");
    assert!(f.resource_id.eq_ignore_ascii_case(&account_id("old-keys")));
    assert!(f.waived_by.is_none());
    let why = f.evidence[0].observed.as_ref().unwrap().as_str().unwrap();
    assert!(why.starts_with("from the activity log"), "{why}");
    assert!(
        why.contains("Key1 not regenerated since 2025-10-03T"),
        "{why}"
    );
    assert!(
        why.contains("Key2 regenerated 2025-12-20T08:00:00Z (11d ago)"),
        "{why}"
    );
    assert!(
        why.contains(&format!("account created {LONG_AGO}")),
        "{why}"
    );

    // One list per keys-on account, every page followed (pages of one event): old-keys has one
    // event in the window, fresh-keys four (Started and Succeeded per regeneration), young-keys
    // none (one empty page). keys-off is not read: no key to date.
    assert_eq!(log_requests(&emu), 1 + 4 + 1);
    emu.shutdown().await;
}

/// The emulator's activity log answers the documented filter and `$select`, newest first, with
/// the events `regenerateKey` recorded (the `Started` one carries the request body), and refuses
/// any other filter syntax as Azure does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_activity_log_serves_the_documented_filter_newest_first() {
    let (emu, clock) = emulator().await;
    let api = connect(&emu);
    let path = format!("{}/regenerateKey", account_id("fresh-keys"));
    api.post(&path, COGNITIVE_API, Some(&json!({"keyName": "Key2"})))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(60));
    let query = |filter: String, select: Option<&str>| {
        let mut r = ArmRequest::new(Method::Get, LOG, "2015-04-01").with_query("$filter", filter);
        if let Some(s) = select {
            r = r.with_query("$select", s.to_string());
        }
        r
    };
    let window =
        "eventTimestamp ge '2025-01-01T00:00:00Z' and eventTimestamp le '2026-01-02T00:00:00Z'";
    let fresh = api
        .list_query(query(
            format!("{window} and resourceUri eq '{}'", account_id("FRESH-KEYS")),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(fresh.len(), 2, "{fresh:#?}");
    let (started, done) = (&fresh[0], &fresh[1]);
    assert_eq!(done["status"]["value"], "Succeeded");
    assert_eq!(started["status"]["value"], "Started");
    assert_eq!(started["correlationId"], done["correlationId"]);
    assert_eq!(
        started["properties"]["requestbody"],
        json!(json!({"keyName": "Key2"}).to_string())
    );
    assert_eq!(
        done["operationName"]["value"],
        "Microsoft.CognitiveServices/accounts/regenerateKey/action"
    );
    assert_eq!(done["subscriptionId"], SUB);
    assert_eq!(done["resourceGroupName"], "rg-keys");
    let id = done["id"].as_str().unwrap();
    assert!(
        id.starts_with(&account_id("fresh-keys"))
            && id.contains("/events/")
            && id.contains("/ticks/"),
        "{id}"
    );

    // The subscription's log, newest first; the seeded Key1 event is past the 90-day retention.
    let all = api
        .list_query(query(window.to_string(), Some("eventTimestamp,resourceId")))
        .await
        .unwrap();
    let times: Vec<&str> = all
        .iter()
        .map(|e| e["eventTimestamp"].as_str().unwrap())
        .collect();
    assert_eq!(times.len(), 3, "{all:#?}");
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert!(times[2].starts_with("2025-12-20T08:00:00"), "{times:?}");
    assert!(
        all.iter().all(|e| e.as_object().unwrap().len() == 2),
        "$select: {all:#?}"
    );
    let rg = api
        .list_query(query(
            format!("{window} and resourceGroupName eq 'RG-KEYS'"),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(rg.len(), 3);

    for wrong in [
        format!("{window} and operationName eq 'Microsoft.CognitiveServices/accounts/regenerateKey/action'"),
        format!("resourceUri eq '{}'", account_id("fresh-keys")),
    ] {
        let resp = api.send(query(wrong.clone(), None)).await.unwrap();
        assert_eq!(resp.status, 400, "{wrong}: {:?}", resp.body);
        let body = resp.body.unwrap();
        assert_eq!(body["code"], "BadRequest", "flat Insights error: {body}");
        assert!(body["message"].as_str().unwrap().contains("No other syntax is allowed"));
    }
    emu.shutdown().await;
}

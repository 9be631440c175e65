//! Diagnostic settings through the generic client (azure_mgmt_monitor 0.21 cannot make these
//! calls), at the diagnostic-setting kind's paths, against a scripted server answering with
//! Microsoft's example bodies.

use crate::arm_support;

use arm_support::{fast_lro, Reply, Server};
use moat::arm::{connect, ArmApi, ConnectOptions, Precondition, RetryPolicy};
use moat::resources::diagnostic_setting::{self as diagnostics, API_VERSION};
use serde_json::{json, Value};

const ACCT: &str =
    "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a1";

fn example(name: &str) -> Value {
    let path = format!(
        "{}/../shared/arm-examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str::<Value>(&text).unwrap()["responses"]["200"]["body"].clone()
}

fn api(s: &Server) -> std::sync::Arc<dyn ArmApi> {
    connect(&ConnectOptions {
        arm_endpoint: Some(s.base.clone()),
        access_token: Some("t".into()),
        retry: RetryPolicy::default().zero_delays(),
        lro: fast_lro(),
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn put_get_list_delete_and_categories() {
    let s = Server::start().await;
    // Microsoft's example body, its id moved under the account it is read from: moat refuses a
    // response whose id is outside the requested scope (docs/reliability.md).
    let mut setting = example("Microsoft.Insights__createOrUpdateDiagnosticSetting.json");
    setting["id"] = json!(diagnostics::id(ACCT, "mysetting"));
    s.push(Reply::json(200, setting.clone()));
    s.push(Reply::json(200, setting.clone()));
    s.push(Reply::json(200, json!({"value": [setting.clone()]})));
    s.push(Reply::empty(204));
    let mut categories = example("Microsoft.Insights__listDiagnosticSettingsCategories.json");
    for c in categories["value"].as_array_mut().unwrap() {
        let name = c["name"].as_str().unwrap().to_string();
        c["id"] = json!(format!("{}/{name}", diagnostics::categories_path(ACCT)));
    }
    s.push(Reply::json(200, categories));
    let api = api(&s);

    let body = json!({"properties": {"workspaceId": "/w", "logs": [{"categoryGroup": "allLogs", "enabled": true}]}});
    let setting_path = diagnostics::id(ACCT, "moat");
    let out = api
        .put(&setting_path, API_VERSION, &body, Precondition::None)
        .await
        .unwrap();
    assert_eq!(out, Some(setting.clone()));
    let got = api.get(&setting_path, API_VERSION).await.unwrap().unwrap();
    assert_eq!(got, setting);
    let typed: Vec<_> = api
        .list(&diagnostics::list_path(ACCT), API_VERSION)
        .await
        .unwrap()
        .iter()
        .map(|v| diagnostics::parse_setting(v).unwrap())
        .collect();
    assert_eq!(typed.len(), 1);
    assert_eq!(
        typed[0].properties.event_hub_name.as_deref(),
        Some("myeventhub")
    );
    assert_eq!(
        serde_json::to_value(&typed[0]).unwrap(),
        setting,
        "nothing lost"
    );
    api.delete(&setting_path, API_VERSION, Precondition::None)
        .await
        .unwrap();
    let cats = diagnostics::categories(
        &api.list(&diagnostics::categories_path(ACCT), API_VERSION)
            .await
            .unwrap(),
    );
    assert_eq!(cats.len(), 2);
    assert_eq!(cats[0].name, "WorkflowRuntime");
    assert_eq!(cats[0].category_type, "Logs");
    assert_eq!(cats[0].category_groups, vec!["allLogs".to_string()]);
    assert!(cats[1].category_groups.is_empty());

    let seen = s.seen();
    let setting_uri = format!(
        "{ACCT}/providers/Microsoft.Insights/diagnosticSettings/moat?api-version={API_VERSION}"
    );
    assert_eq!(
        (seen[0].method.as_str(), seen[0].uri.as_str()),
        ("PUT", setting_uri.as_str())
    );
    assert_eq!(serde_json::from_str::<Value>(&seen[0].body).unwrap(), body);
    assert_eq!(seen[1].method, "GET");
    assert_eq!(
        seen[2].uri,
        format!("{ACCT}/providers/Microsoft.Insights/diagnosticSettings?api-version={API_VERSION}")
    );
    assert_eq!(
        (seen[3].method.as_str(), seen[3].uri.as_str()),
        ("DELETE", setting_uri.as_str())
    );
    assert!(seen[4].uri.starts_with(&format!(
        "{ACCT}/providers/Microsoft.Insights/diagnosticSettingsCategories?"
    )));
}

#[tokio::test]
async fn flat_insights_errors_are_understood() {
    let s = Server::start().await;
    s.push(Reply::json(
        400,
        json!({"code": "BadRequest", "message": "Category 'Nope' is not supported."}),
    ));
    let api = api(&s);
    let err = api
        .put(
            &diagnostics::id(ACCT, "moat"),
            API_VERSION,
            &json!({}),
            Precondition::None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("BadRequest"));
    assert!(
        err.to_string()
            .contains("Category 'Nope' is not supported."),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains("/providers/Microsoft.Insights/diagnosticSettings/moat"));
}

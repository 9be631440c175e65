//! Role assignments (conflicts, PrincipalNotFound, scope inheritance in lists, built-in role
//! definitions) and diagnostic settings.

use crate::emulator_support;

use std::time::Duration;

use emulator_support::*;
use moat::arm::{ArmApi, Method};
use serde_json::{json, Value};

fn code(r: &moat::arm::ArmResponse) -> String {
    r.body
        .as_ref()
        .and_then(|b| b["error"]["code"].as_str())
        .unwrap_or_default()
        .to_string()
}

const ROLE_USER: &str = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd";
const P1: &str = "11111111-1111-1111-1111-111111111111";

fn ra(scope: &str, name: &str, principal: &str, ptype: &str) -> (String, Value) {
    (
        format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
        json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{ROLE_USER}"),
        "principalId": principal, "principalType": ptype }}),
    )
}

#[tokio::test]
async fn role_assignment_rules() {
    let env = start().await;
    env.seed(json!([rg_seed("rg"), account_seed("rg", "aa", "OpenAI")]));
    let a = acct_id("rg", "aa");
    let (p, b) = ra(&a, "aaaaaaaa-0000-0000-0000-000000000001", P1, "User");
    let r = env.put(&p, AUTH, b.clone()).await;
    assert_eq!(r.status, 201);
    let body = r.body.unwrap();
    assert_eq!(body["properties"]["scope"], a);
    assert!(body["properties"]["roleDefinitionId"]
        .as_str()
        .unwrap()
        .ends_with(ROLE_USER));
    assert_eq!(env.put(&p, AUTH, b.clone()).await.status, 200);
    let (p2, _) = ra(&a, "aaaaaaaa-0000-0000-0000-000000000002", P1, "User");
    let r = env.put(&p2, AUTH, b).await;
    assert_eq!((r.status, code(&r)), (409, "RoleAssignmentExists".into()));
    let (_, other) = ra(&a, "x", "22222222-2222-2222-2222-222222222222", "User");
    let r = env.put(&p, AUTH, other).await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "RoleAssignmentUpdateNotPermitted".into())
    );
    let d = env.send(Method::Delete, &p, AUTH, None).await;
    assert_eq!(
        (d.status, d.body.unwrap()["name"].as_str()),
        (200, Some("aaaaaaaa-0000-0000-0000-000000000001"))
    );
    assert_eq!(env.send(Method::Delete, &p, AUTH, None).await.status, 204);
}

#[tokio::test]
async fn new_principals_are_not_found_for_a_while() {
    let env = start().await;
    env.seed(json!([rg_seed("rg")]));
    let fresh = "33333333-3333-3333-3333-333333333333";
    env.emu.mark_principal_new(fresh, Duration::from_secs(30));
    let (p, b) = ra(
        &rg_id("rg"),
        "bbbbbbbb-0000-0000-0000-000000000001",
        fresh,
        "User",
    );
    let r = env.put(&p, AUTH, b.clone()).await;
    assert_eq!((r.status, code(&r)), (400, "PrincipalNotFound".into()));
    let (p2, sp) = ra(
        &rg_id("rg"),
        "bbbbbbbb-0000-0000-0000-000000000002",
        fresh,
        "ServicePrincipal",
    );
    assert_eq!(env.put(&p2, AUTH, sp).await.status, 201);
    env.send(Method::Delete, &p2, AUTH, None).await;
    env.clock.advance(Duration::from_secs(30));
    assert_eq!(env.put(&p, AUTH, b).await.status, 201);
}

async fn list_ra(env: &Env, scope: String, filter: &str) -> Vec<String> {
    let req = moat::arm::ArmRequest::new(
        Method::Get,
        format!("{scope}/providers/Microsoft.Authorization/roleAssignments"),
        AUTH,
    )
    .with_query("$filter", filter);
    let mut names: Vec<String> = env
        .arm
        .list_query(req)
        .await
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap()[35..].to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn role_assignment_lists_include_inherited_scopes() {
    let env = start().await;
    env.seed(json!([rg_seed("rg"), account_seed("rg", "aa", "OpenAI")]));
    let a = acct_id("rg", "aa");
    let sub = format!("/subscriptions/{SUB}");
    for (scope, n) in [
        (sub.as_str(), "1"),
        (rg_id("rg").as_str(), "2"),
        (a.as_str(), "3"),
    ] {
        let (p, b) = ra(
            scope,
            &format!("cccccccc-0000-0000-0000-00000000000{n}"),
            P1,
            "User",
        );
        assert_eq!(env.put(&p, AUTH, b).await.status, 201, "{scope}");
    }
    assert_eq!(
        list_ra(&env, a.clone(), "atScope()").await,
        vec!["1", "2", "3"]
    );
    assert_eq!(
        list_ra(&env, rg_id("rg"), "atScope()").await,
        vec!["1", "2"]
    );
    assert_eq!(
        list_ra(&env, rg_id("rg"), &format!("principalId eq '{P1}'")).await,
        vec!["1", "2", "3"]
    );
    assert_eq!(
        list_ra(
            &env,
            rg_id("rg"),
            "principalId eq '99999999-9999-9999-9999-999999999999'"
        )
        .await,
        Vec::<String>::new()
    );
    let def = env
        .get(
            &format!("{a}/providers/Microsoft.Authorization/roleDefinitions/{ROLE_USER}"),
            AUTH,
        )
        .await
        .body
        .unwrap();
    assert_eq!(
        def["properties"]["roleName"],
        "Cognitive Services OpenAI User"
    );
}

#[tokio::test]
async fn diagnostic_settings_and_categories() {
    let env = start().await;
    let law = format!(
        "{}/providers/Microsoft.OperationalInsights/workspaces/law",
        rg_id("rg")
    );
    env.seed(json!([rg_seed("rg"), account_seed("rg", "Acct", "OpenAI"), {"id": law, "location": "eastus"}]));
    let a = acct_id("rg", "Acct");
    let cats = env
        .get(
            &format!("{a}/providers/Microsoft.Insights/diagnosticSettingsCategories"),
            INS,
        )
        .await
        .body
        .unwrap();
    let names: Vec<&str> = cats["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "Audit",
            "RequestResponse",
            "Trace",
            "AzureOpenAIRequestUsage",
            "AllMetrics"
        ]
    );
    assert_eq!(
        cats["value"][0]["properties"]["categoryGroups"],
        json!(["allLogs", "audit"])
    );
    let path = format!("{a}/providers/Microsoft.Insights/diagnosticSettings/to-law");
    let body = json!({"properties": {"workspaceId": law, "logs": [{"categoryGroup": "allLogs", "enabled": true}], "metrics": [{"category": "AllMetrics", "enabled": true}]}});
    let r = env.put(&path, INS, body.clone()).await;
    assert_eq!(r.status, 200);
    let s = r.body.unwrap();
    assert_eq!(
        s["id"],
        format!(
            "{}/providers/microsoft.insights/diagnosticSettings/to-law",
            a.to_lowercase()
        )
    );
    assert_eq!(
        s["properties"]["logs"][0]["retentionPolicy"],
        json!({"enabled": false, "days": 0})
    );
    assert_eq!(env.put(&path, INS, body).await.status, 200);
    let bad = env.put(&path, INS, json!({"properties": {"workspaceId": law, "logs": [{"category": "Nope", "enabled": true}]}})).await;
    assert_eq!(
        (bad.status, bad.body.unwrap()["code"].as_str()),
        (400, Some("BadRequest"))
    );
    let list = env
        .get(
            &format!("{a}/providers/Microsoft.Insights/diagnosticSettings"),
            INS,
        )
        .await
        .body
        .unwrap();
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    assert!(list.get("nextLink").is_none());
    assert_eq!(env.send(Method::Delete, &path, INS, None).await.status, 200);
    assert_eq!(env.send(Method::Delete, &path, INS, None).await.status, 204);
}

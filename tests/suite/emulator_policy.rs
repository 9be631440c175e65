//! The emulator's Azure Policy: assignment and exemption validation as ARM does it, and Deny
//! enforcement on account writes (403 RequestDisallowedByPolicy, details in additionalInfo),
//! waived by an unexpired exemption. The clock is manual: each accepted account write's
//! operation is finished before the next write.

use crate::emulator_support;

use emulator_support::*;
use moat::arm::Method;
use serde_json::{json, Value};

const PA: &str = "2025-11-01";
const PE: &str = "2026-01-01-preview";
const ACCT: &str = "2026-03-01";
const LOCAL_AUTH: &str =
    "/providers/Microsoft.Authorization/policyDefinitions/71ef260a-8f18-47b7-abcb-62d0673d94dc";
const MODIFY_LOCAL_AUTH: &str =
    "/providers/Microsoft.Authorization/policyDefinitions/14de9e63-1b31-492e-a5a3-c3f7fd57f555";

fn assignment(name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/policyAssignments/{name}",
        rg_id("rg")
    )
}

fn exemption(account: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/policyExemptions/{name}",
        acct_id("rg", account)
    )
}

fn deny(def: &str) -> Value {
    json!({"properties": {"policyDefinitionId": def, "parameters": {"effect": {"value": "Deny"}}}})
}

async fn env() -> Env {
    let env = start().await;
    env.seed(json!([
        rg_seed("rg"),
        account_seed("rg", "one", "OpenAI"),
        account_seed("rg", "two", "OpenAI"),
    ]));
    env
}

/// PATCH account `name` (in `rg`) with `body`.
async fn patch(env: &Env, name: &str, body: &Value) -> moat::arm::ArmResponse {
    env.send(
        Method::Patch,
        &acct_id("rg", name),
        ACCT,
        Some(body.clone()),
    )
    .await
}

fn code(r: &moat::arm::ArmResponse) -> (u16, String) {
    let body = r.body.clone().unwrap_or(Value::Null);
    (
        r.status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn assignments_are_validated_as_arm_does_and_answered_with_the_fields_azure_adds() {
    let env = env().await;
    let unknown = json!({"properties": {"policyDefinitionId": "/providers/Microsoft.Authorization/policyDefinitions/00000000-0000-0000-0000-000000000000"}});
    let r = env.put(&assignment("a"), PA, unknown).await;
    assert_eq!(code(&r), (404, "PolicyDefinitionNotFound".into()));
    let r = env.put(&assignment("a"), PA, json!({"properties": {"policyDefinitionId": LOCAL_AUTH, "parameters": {"effect": {"value": "Modify"}}}})).await;
    assert_eq!(code(&r), (400, "InvalidPolicyParameterValue".into()));
    let r = env
        .put(
            &assignment("m"),
            PA,
            json!({"properties": {"policyDefinitionId": MODIFY_LOCAL_AUTH}}),
        )
        .await;
    assert_eq!(code(&r), (400, "ResourceIdentityRequired".into()));
    let with_identity = json!({"identity": {"type": "SystemAssigned"}, "properties": {"policyDefinitionId": MODIFY_LOCAL_AUTH}});
    let r = env.put(&assignment("m"), PA, with_identity.clone()).await;
    assert_eq!(code(&r), (400, "LocationRequired".into()));
    let mut located = with_identity;
    located["location"] = json!("eastus");
    let r = env.put(&assignment("m"), PA, located).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let b = r.body.unwrap();
    assert!(b["identity"]["principalId"].as_str().is_some());

    let r = env.put(&assignment("a"), PA, deny(LOCAL_AUTH)).await;
    assert_eq!(r.status, 201);
    let b = r.body.unwrap();
    let p = &b["properties"];
    assert_eq!(p["scope"], rg_id("rg"));
    assert_eq!(p["notScopes"], json!([]));
    assert_eq!(p["enforcementMode"], "Default");
    assert_eq!(p["policyDefinitionId"], LOCAL_AUTH.to_ascii_lowercase());
    assert!(p["instanceId"].as_str().is_some() && p["definitionVersion"].as_str().is_some());
    assert!(p["metadata"]["createdOn"].as_str().is_some());
}

#[tokio::test]
async fn exemptions_need_a_preview_version_an_assignment_and_a_scope_under_it() {
    let env = env().await;
    let body =
        |a: &str| json!({"properties": {"policyAssignmentId": a, "exemptionCategory": "Waiver"}});
    let r = env
        .put(&exemption("one", "x"), PA, body(&assignment("a")))
        .await;
    assert_eq!(code(&r), (400, "InvalidApiVersionParameter".into()));
    let r = env
        .put(&exemption("one", "x"), PE, body(&assignment("a")))
        .await;
    assert_eq!(code(&r), (404, "PolicyAssignmentNotFound".into()));
    assert_eq!(
        env.put(&assignment("a"), PA, deny(LOCAL_AUTH)).await.status,
        201
    );
    let r = env
        .put(&exemption("one", "x"), PE, json!({"properties": {"policyAssignmentId": assignment("a"), "exemptionCategory": "Forgiven"}}))
        .await;
    assert_eq!(code(&r), (400, "InvalidRequestContent".into()));
    // An exemption above the assignment's scope (the subscription) is refused.
    let sub_ex =
        format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/policyExemptions/x");
    let r = env.put(&sub_ex, PE, body(&assignment("a"))).await;
    assert_eq!(code(&r), (400, "InvalidPolicyExemptionScope".into()));
    let r = env
        .put(&exemption("one", "x"), PE, body(&assignment("a")))
        .await;
    assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
}

#[tokio::test]
async fn a_deny_refuses_violating_account_writes_unless_an_unexpired_exemption_covers_them() {
    let env = env().await;
    let keys_on = json!({"properties": {"disableLocalAuth": false}});
    // Before any assignment, the write is accepted.
    let r = patch(&env, "one", &keys_on).await;
    assert_eq!(r.status / 100, 2, "{:?}", r.body);
    env.finish_ops();
    assert_eq!(
        env.put(&assignment("a"), PA, deny(LOCAL_AUTH)).await.status,
        201
    );

    let r = patch(&env, "two", &keys_on).await;
    assert_eq!(code(&r), (403, "RequestDisallowedByPolicy".into()));
    let info = &r.body.unwrap()["error"]["additionalInfo"][0];
    assert_eq!(info["type"], "PolicyViolation");
    assert_eq!(info["info"]["policyAssignmentId"], assignment("a"));
    assert_eq!(info["info"]["policyDefinitionEffect"], "Deny");
    // A compliant write is accepted.
    let off = json!({"properties": {"disableLocalAuth": true}});
    let r = patch(&env, "two", &off).await;
    assert_eq!(r.status / 100, 2, "{:?}", r.body);
    env.finish_ops();

    // An expired exemption waives nothing; an unexpired one does.
    let ex = |expires: &str| json!({"properties": {"policyAssignmentId": assignment("a"), "exemptionCategory": "Waiver", "expiresOn": expires}});
    assert_eq!(
        env.put(&exemption("two", "x"), PE, ex("2000-01-01T00:00:00Z"))
            .await
            .status
            / 100,
        2
    );
    let r = patch(&env, "two", &keys_on).await;
    assert_eq!(code(&r), (403, "RequestDisallowedByPolicy".into()));
    assert_eq!(
        env.put(&exemption("two", "x"), PE, ex("2999-01-01T00:00:00Z"))
            .await
            .status
            / 100,
        2
    );
    let r = patch(&env, "two", &keys_on).await;
    assert_eq!(r.status / 100, 2, "{:?}", r.body);
    env.finish_ops();

    // DoNotEnforce lifts the Deny for everyone.
    let mut relaxed = deny(LOCAL_AUTH);
    relaxed["properties"]["enforcementMode"] = json!("DoNotEnforce");
    assert_eq!(env.put(&assignment("a"), PA, relaxed).await.status, 200);
    let r = patch(&env, "one", &keys_on).await;
    assert_eq!(r.status / 100, 2, "{:?}", r.body);
    env.finish_ops();
}

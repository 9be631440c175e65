//! The emulator's remediation tasks (`Microsoft.PolicyInsights/remediations`): refused as ARM
//! refuses them (400 InvalidCreateRemediationRequest), and, once accepted, Azure Policy's Modify
//! applied to the existing non-compliant accounts of the scope as the assignment's identity —
//! skipping exempted accounts, failing where the identity holds no role.

use crate::emulator_support;

use emulator_support::*;
use serde_json::{json, Value};

const PA: &str = "2025-11-01";
const PE: &str = "2026-01-01-preview";
const REM: &str = "2024-10-01";
const RA: &str = "2022-04-01";
const ACCT: &str = "2026-03-01";
const MODIFY_LOCAL_AUTH: &str =
    "/providers/Microsoft.Authorization/policyDefinitions/14de9e63-1b31-492e-a5a3-c3f7fd57f555";
const DENY_LOCAL_AUTH: &str =
    "/providers/Microsoft.Authorization/policyDefinitions/71ef260a-8f18-47b7-abcb-62d0673d94dc";

fn assignment(name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/policyAssignments/{name}",
        rg_id("rg")
    )
}

fn task(name: &str) -> String {
    format!(
        "{}/providers/Microsoft.PolicyInsights/remediations/{name}",
        rg_id("rg")
    )
}

fn code(r: &moat::arm::ArmResponse) -> (u16, String) {
    let body = r.body.clone().unwrap_or(Value::Null);
    (
        r.status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

fn remediate(a: &str) -> Value {
    json!({"properties": {"policyAssignmentId": a, "resourceDiscoveryMode": "ReEvaluateCompliance"}})
}

async fn keys_off(env: &Env, name: &str) -> Value {
    let r = env.get(&acct_id("rg", name), ACCT).await;
    r.body.unwrap()["properties"]["disableLocalAuth"].clone()
}

#[tokio::test]
async fn a_remediation_needs_a_modify_assignment_with_an_identity_and_fixes_what_it_may() {
    let env = start().await;
    env.seed(json!([
        rg_seed("rg"),
        account_seed("rg", "one", "OpenAI"),
        account_seed("rg", "two", "OpenAI"),
        account_seed("rg", "kept", "OpenAI"),
    ]));
    let invalid = (400, "InvalidCreateRemediationRequest".to_string());
    let r = env.put(&task("t0"), REM, json!({"properties": {}})).await;
    assert_eq!(code(&r), invalid, "policyAssignmentId is required");
    let r = env
        .put(&task("t0"), REM, remediate(&assignment("nope")))
        .await;
    assert_eq!(code(&r), invalid, "the assignment must exist");

    let deny = json!({"properties": {"policyDefinitionId": DENY_LOCAL_AUTH, "parameters": {"effect": {"value": "Deny"}}, "enforcementMode": "DoNotEnforce"}});
    assert_eq!(env.put(&assignment("deny"), PA, deny).await.status, 201);
    let r = env
        .put(&task("t0"), REM, remediate(&assignment("deny")))
        .await;
    assert_eq!(code(&r), invalid, "a Deny cannot remediate");

    let modify = json!({"identity": {"type": "SystemAssigned"}, "location": "eastus",
        "properties": {"policyDefinitionId": MODIFY_LOCAL_AUTH, "parameters": {"effect": {"value": "Modify"}}}});
    let r = env.put(&assignment("modify"), PA, modify).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let principal = r.body.unwrap()["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    let filtered = json!({"properties": {"policyAssignmentId": assignment("modify"),
        "resourceDiscoveryMode": "ReEvaluateCompliance", "filters": {"resourceIds": [acct_id("rg", "one")]}}});
    let r = env.put(&task("t0"), REM, filtered).await;
    assert_eq!(
        code(&r),
        invalid,
        "no resourceIds filter when re-evaluating"
    );
    let r = env
        .put(&task("t0"), REM, json!({"properties": {"policyAssignmentId": assignment("modify"), "resourceDiscoveryMode": "Sometimes"}}))
        .await;
    assert_eq!(code(&r), invalid, "resourceDiscoveryMode is an enum");

    // `kept` is exempted: the task leaves it alone.
    let ex = format!(
        "{}/providers/Microsoft.Authorization/policyExemptions/x",
        acct_id("rg", "kept")
    );
    let r = env
        .put(&ex, PE, json!({"properties": {"policyAssignmentId": assignment("modify"), "exemptionCategory": "Waiver"}}))
        .await;
    assert!(r.status == 201 || r.status == 200, "{:?}", r.body);

    // Without its role the identity cannot change the accounts: the deployments fail.
    let r = env
        .put(&task("t1"), REM, remediate(&assignment("modify")))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let b = r.body.unwrap();
    assert_eq!(b["properties"]["provisioningState"], "Failed");
    assert_eq!(
        b["properties"]["deploymentStatus"],
        json!({"totalDeployments": 2, "successfulDeployments": 0, "failedDeployments": 2})
    );
    assert_eq!(b["type"], "Microsoft.PolicyInsights/remediations");
    assert!(b["systemData"].is_object() && b["properties"]["correlationId"].is_string());
    assert_ne!(keys_off(&env, "one").await, json!(true));

    // With Contributor at the resource group it fixes both, and not the exempted one.
    let grant = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/4f1c8a2e-0d6b-4a57-9c3e-2b7d5e8f1a90",
        rg_id("rg")
    );
    let r = env
        .put(&grant, RA, json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"),
            "principalId": principal, "principalType": "ServicePrincipal"}}))
        .await;
    assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
    let r = env
        .put(&task("t2"), REM, remediate(&assignment("modify")))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let b = r.body.unwrap();
    assert_eq!(b["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        b["properties"]["deploymentStatus"]["successfulDeployments"],
        2
    );
    assert_eq!(keys_off(&env, "one").await, json!(true));
    assert_eq!(keys_off(&env, "two").await, json!(true));
    assert_ne!(keys_off(&env, "kept").await, json!(true));

    // Read back, and listed at the resource group.
    let r = env.get(&task("t2"), REM).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body.unwrap()["properties"]["provisioningState"],
        "Succeeded"
    );
    let list = env
        .get(
            &format!(
                "{}/providers/Microsoft.PolicyInsights/remediations",
                rg_id("rg")
            ),
            REM,
        )
        .await;
    assert_eq!(list.body.unwrap()["value"].as_array().unwrap().len(), 2);
}

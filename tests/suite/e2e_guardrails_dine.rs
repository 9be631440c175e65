//! The diagnostics guardrail with DeployIfNotExists (55d1f543) end to end against the emulator
//! (examples/guardrails-diagnostics.yaml): the assignment carries the instances' workspace,
//! setting name and category group, a system-assigned identity and a location; its identity
//! gets Log Analytics Contributor at the resource group and at the workspace outside it;
//! plan → apply → plan empty. Then Azure Policy's side: a write of a moat account deploys
//! nothing (moat's setting satisfies the existenceCondition), a new account created in the
//! scope gets the policy's setting, and the emulator refuses what Azure refuses.

use crate::support;

use moat::arm::{ArmError, Precondition};
use moat::plan::model::Action;
use serde_json::{json, Value};
use support::e2e::*;

const ACCOUNT_API: &str = "2026-03-01";
const SETTINGS_API: &str = "2021-05-01-preview";
const RG: &str = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-ai-logged";
const WORKSPACE: &str = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-monitoring/providers/Microsoft.OperationalInsights/workspaces/law-security";

fn settings_of(account: &str) -> String {
    format!("{account}/providers/Microsoft.Insights/diagnosticSettings")
}

fn code(e: ArmError) -> (u16, String) {
    match e {
        ArmError::Response { status, code, .. } => (status, code),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_deploy_if_not_exists_guardrail_converges_and_deploys_only_where_a_setting_is_missing() {
    let emu = emulator("examples/guardrails-diagnostics-seed.json").await;
    let api = connect(&emu);
    let bp = load("examples/guardrails-diagnostics.yaml");

    let p = plan(api.as_ref(), &bp).await;
    let assignments: Vec<_> = p
        .changes()
        .filter(|c| c.kind.label() == "policy-assignment")
        .collect();
    assert_eq!(assignments.len(), 1, "one for the scope");
    let pa = assignments[0];
    assert_eq!(pa.action, Action::Create);
    let body = pa.write.as_ref().unwrap().body.as_ref().unwrap();
    assert!(body["properties"]["policyDefinitionId"]
        .as_str()
        .unwrap()
        .ends_with("/55d1f543-d1b0-4811-9663-d6d0dbc6326d"));
    assert_eq!(
        body["properties"]["parameters"],
        json!({
            "effect": {"value": "DeployIfNotExists"},
            "logAnalytics": {"value": WORKSPACE},
            "categoryGroup": {"value": "allLogs"},
            "diagnosticSettingName": {"value": "moat-security"},
        })
    );
    assert_eq!(body["identity"], json!({"type": "SystemAssigned"}));
    assert_eq!(body["location"], "swedencentral");
    // Log Analytics Contributor (the built-in's roleDefinitionIds) at the scope and at the
    // workspace (its logAnalytics parameter has assignPermissions), each after the assignment.
    let grants: Vec<_> = p
        .changes()
        .filter(|c| c.kind.label() == "guardrail-grant")
        .collect();
    assert_eq!(grants.len(), 2, "{grants:#?}");
    for g in &grants {
        assert!(g.depends_on.contains(&pa.address));
        let gb = g.write.as_ref().unwrap().body.as_ref().unwrap();
        assert!(gb["properties"]["roleDefinitionId"]
            .as_str()
            .unwrap()
            .ends_with("/roleDefinitions/92aaf0da-9dab-42b6-94a3-d43ce8d16293"));
    }
    assert!(grants.iter().any(|g| g.id.starts_with(RG)));
    assert!(grants.iter().any(|g| g.id.starts_with(WORKSPACE)));
    // moat's own settings carry both groups the built-in counts, so it finds them compliant.
    let setting = p
        .changes()
        .find(|c| c.kind.label() == "diagnostic-setting")
        .unwrap();
    let logs = &setting.write.as_ref().unwrap().body.as_ref().unwrap()["properties"]["logs"];
    assert_eq!(
        logs,
        &json!([{"categoryGroup": "audit", "enabled": false}, {"categoryGroup": "allLogs", "enabled": true}])
    );

    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        !again.has_changes() && !again.is_failed(),
        "a converged DeployIfNotExists assignment is a no-op: {:#?}",
        again
            .changes()
            .filter(|c| c.action != Action::NoOp)
            .collect::<Vec<_>>()
    );
    assert!(
        again.instances.iter().all(|i| i.notes.is_empty()),
        "every account complies now: {:#?}",
        again.instances.iter().map(|i| &i.notes).collect::<Vec<_>>()
    );

    // A write of a moat account: its setting satisfies the existenceCondition, nothing deployed.
    let chat = bp.instances[0].account_id();
    api.patch(
        &chat,
        ACCOUNT_API,
        &json!({"tags": {"team": "chat"}}),
        Precondition::None,
    )
    .await
    .unwrap();
    let names = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    let on_chat = api.list(&settings_of(&chat), SETTINGS_API).await.unwrap();
    assert_eq!(names(&on_chat), vec!["moat-security"]);

    // A team creates an account in the scope without a setting: Azure Policy deploys one.
    let team = format!("{RG}/providers/Microsoft.CognitiveServices/accounts/team-made");
    let account = json!({"location": "swedencentral", "kind": "OpenAI", "sku": {"name": "S0"},
        "properties": {"customSubDomainName": "team-made", "publicNetworkAccess": "Disabled"}});
    api.put(&team, ACCOUNT_API, &account, Precondition::None)
        .await
        .unwrap();
    let deployed = api.list(&settings_of(&team), SETTINGS_API).await.unwrap();
    assert_eq!(names(&deployed), vec!["moat-security"], "{deployed:#?}");
    let props = &deployed[0]["properties"];
    assert!(props["workspaceId"]
        .as_str()
        .unwrap()
        .eq_ignore_ascii_case(WORKSPACE));
    assert!(props["logs"]
        .as_array()
        .unwrap()
        .contains(&json!({"categoryGroup": "allLogs", "enabled": true})));
    assert_eq!(props["metrics"], json!([]));

    // Azure's validation: a DeployIfNotExists needs an identity, the workspace parameter is
    // required, and an unknown definition is refused.
    let pa_path = format!("{RG}/providers/Microsoft.Authorization/policyAssignments/by-hand");
    let mut by_hand = body.clone();
    by_hand.as_object_mut().unwrap().remove("identity");
    let e = api
        .put(&pa_path, "2025-11-01", &by_hand, Precondition::None)
        .await;
    assert_eq!(
        code(e.unwrap_err()),
        (400, "ResourceIdentityRequired".into())
    );
    let mut no_workspace = body.clone();
    no_workspace["properties"]["parameters"]
        .as_object_mut()
        .unwrap()
        .remove("logAnalytics");
    let e = api
        .put(&pa_path, "2025-11-01", &no_workspace, Precondition::None)
        .await;
    assert_eq!(code(e.unwrap_err()), (400, "MissingPolicyParameter".into()));
    let mut unknown = body.clone();
    unknown["properties"]["policyDefinitionId"] = json!(
        "/providers/Microsoft.Authorization/policyDefinitions/00000000-0000-0000-0000-000000000000"
    );
    let e = api
        .put(&pa_path, "2025-11-01", &unknown, Precondition::None)
        .await;
    assert_eq!(
        code(e.unwrap_err()),
        (404, "PolicyDefinitionNotFound".into())
    );
}

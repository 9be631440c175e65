//! Guardrails (issue 18) end to end against the emulator: a fleet of five accounts in one
//! resource group, one with a `local-auth` exception; `guardrails` denies local auth and open
//! network access there. plan → apply → plan empty; the exempted account still serves keys; a
//! direct ARM write re-opening another account is refused with RequestDisallowedByPolicy;
//! removing the exception deletes the exemption, shown as a risk.

use crate::support;

use moat::arm::{ArmError, Precondition};
use moat::blueprint::resolved::ExceptionKind;
use moat::plan::model::Action;
use serde_json::json;
use support::e2e::*;

const ACCOUNT_API: &str = "2026-03-01";

#[tokio::test]
async fn guardrails_are_assigned_after_hardening_exempt_the_exception_and_deny_the_rest() {
    let emu = emulator("examples/guardrails-seed.json").await;
    let api = connect(&emu);
    let mut bp = load("examples/guardrails.yaml");
    assert_eq!(bp.instances.len(), 5);

    let p = plan(api.as_ref(), &bp).await;
    let assignments: Vec<_> = p
        .changes()
        .filter(|c| c.kind.label() == "policy-assignment")
        .collect();
    assert_eq!(
        assignments.len(),
        2,
        "one per control, planned once for the scope"
    );
    for a in &assignments {
        assert_eq!(a.action, Action::Create);
        assert!(
            a.address.starts_with("contoso-guard-chat/"),
            "{}",
            a.address
        );
        // Waits for the key and network writes of every other instance in the scope.
        for other in ["contoso-guard-search", "contoso-guard-legacy"] {
            assert!(
                a.depends_on
                    .iter()
                    .any(|d| d.starts_with(&format!("{other}/account"))),
                "{} waits for {other}: {:?}",
                a.address,
                a.depends_on
            );
        }
        assert!(a
            .risk
            .as_deref()
            .unwrap()
            .contains("RequestDisallowedByPolicy"));
    }
    let exemptions: Vec<_> = p
        .changes()
        .filter(|c| c.kind.label() == "policy-exemption" && c.action.is_write())
        .collect();
    assert_eq!(exemptions.len(), 1, "{exemptions:#?}");
    let ex = exemptions[0];
    assert!(ex.address.starts_with("contoso-guard-legacy/"));
    assert!(ex.exception.as_deref().unwrap().contains("CHG-2291"));
    let body = ex.write.as_ref().unwrap().body.as_ref().unwrap();
    assert_eq!(body["properties"]["exemptionCategory"], "Waiver");
    assert_eq!(body["properties"]["expiresOn"], "2099-06-30T23:59:59Z");
    assert!(body["properties"]["description"]
        .as_str()
        .unwrap()
        .starts_with("Legacy batch client"));

    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    let first_policy = first(&log, "PUT", "policyAssignments").unwrap();
    let last_account = log
        .iter()
        .rposition(|e| e.method == "PATCH" && e.path.contains("/accounts/"))
        .unwrap();
    assert!(
        last_account < first_policy,
        "assignments go after every account write"
    );

    let again = plan(api.as_ref(), &bp).await;
    assert!(
        !again.has_changes() && !again.is_failed(),
        "converged guardrails are no-ops: {:#?}",
        again
            .changes()
            .filter(|c| c.action != Action::NoOp)
            .collect::<Vec<_>>()
    );

    // The exempted account is still served with keys.
    let keys = api
        .post(
            &format!("{}/listKeys", account(&bp, "contoso-guard-legacy")),
            ACCOUNT_API,
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(keys["key1"].as_str().is_some_and(|k| !k.is_empty()));

    // Someone re-opens another account by hand: Azure Policy refuses it.
    let open = json!({"properties": {"publicNetworkAccess": "Enabled", "networkAcls": {"defaultAction": "Allow"}}});
    let refused = api
        .patch(
            &account(&bp, "contoso-guard-search"),
            ACCOUNT_API,
            &open,
            Precondition::None,
        )
        .await
        .unwrap_err();
    match refused {
        ArmError::Response { status, code, .. } => {
            assert_eq!((status, code.as_str()), (403, "RequestDisallowedByPolicy"))
        }
        other => panic!("{other:?}"),
    }
    let live = api
        .get(&account(&bp, "contoso-guard-search"), ACCOUNT_API)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live["properties"]["publicNetworkAccess"], "Disabled");

    // The exception goes (and with it, keys): the exemption is deleted, as a risk.
    let legacy = bp
        .instances
        .iter_mut()
        .find(|i| i.account_name == "contoso-guard-legacy")
        .unwrap();
    legacy
        .exceptions
        .retain(|e| e.allows != ExceptionKind::LocalAuth);
    legacy.controls.local_auth.as_mut().unwrap().spec.disabled = true;
    let p = plan(api.as_ref(), &bp).await;
    let gone: Vec<_> = p
        .changes()
        .filter(|c| c.kind.label() == "policy-exemption" && c.action == Action::Delete)
        .collect();
    assert_eq!(gone.len(), 1, "{gone:#?}");
    assert!(gone[0].address.starts_with("contoso-guard-legacy/"));
    assert!(gone[0]
        .risk
        .as_deref()
        .unwrap()
        .contains("RequestDisallowedByPolicy"));
    assert!(gone[0]
        .reason
        .contains("no longer has a `local-auth` exception"));
    apply_and_converge(api.clone(), &p, &bp).await;
    emu.shutdown().await;
}

/// `localAuth: modify`: the assignment carries a system-assigned identity and a location, its
/// identity gets the built-in's Contributor at the scope once the assignment exists (an edge
/// and a bind in the plan, not a choice of apply), the emulator's Modify rewrites a write that
/// turns keys back on, a remediation task fixes the account that broke it before (once: the
/// next plan is empty), and changing the effect replaces moat's assignment and exemption.
#[tokio::test]
async fn a_modify_guardrail_gets_an_identity_its_roles_after_it_and_rewrites_writes() {
    let emu = emulator("examples/guardrails-modify-seed.json").await;
    let api = connect(&emu);
    let mut bp = load("examples/guardrails-modify.yaml");

    let p = plan(api.as_ref(), &bp).await;
    let modify = p
        .changes()
        .find(|c| c.kind.label() == "policy-assignment" && c.address.contains("moat-localauth-"))
        .unwrap();
    let body = modify.write.as_ref().unwrap().body.as_ref().unwrap();
    assert_eq!(body["identity"], json!({"type": "SystemAssigned"}));
    assert_eq!(body["location"], "westeurope");
    assert_eq!(
        body["properties"]["parameters"]["effect"]["value"],
        "Modify"
    );
    assert!(body["properties"]["policyDefinitionId"]
        .as_str()
        .unwrap()
        .ends_with("14de9e63-1b31-492e-a5a3-c3f7fd57f555"));
    let deny = p
        .changes()
        .find(|c| c.kind.label() == "policy-assignment" && c.address.contains("networkaccess"))
        .unwrap();
    let deny_body = deny.write.as_ref().unwrap().body.as_ref().unwrap();
    assert!(deny_body.get("identity").is_none() && deny_body.get("location").is_none());

    let grants: Vec<_> = p
        .changes()
        .filter(|c| c.kind.label() == "guardrail-grant")
        .collect();
    assert_eq!(grants.len(), 1, "one per roleDefinitionId, planned once");
    let grant = grants[0];
    assert_eq!(grant.action, Action::Create);
    assert!(
        grant.depends_on.contains(&modify.address),
        "{:?}",
        grant.depends_on
    );
    let w = grant.write.as_ref().unwrap();
    assert_eq!(w.bind.len(), 1);
    assert_eq!(w.bind[0].from, modify.id);
    assert_eq!(w.bind[0].field, "identity.principalId");
    let gb = w.body.as_ref().unwrap();
    assert!(gb["properties"]["roleDefinitionId"]
        .as_str()
        .unwrap()
        .ends_with("/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"));
    assert_eq!(gb["properties"]["principalType"], "ServicePrincipal");
    assert!(w.path.starts_with(
        "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-ai-modify/providers/Microsoft.Authorization/roleAssignments/"
    ));

    // `remediate: [localAuth]`: the team's own account (not in the blueprint, keys on) breaks
    // the Modify today; one remediation task is planned for it, after the assignment and the
    // identity's role.
    let tasks: Vec<_> = p
        .changes()
        .filter(|c| c.kind.label() == "policy-remediation")
        .collect();
    assert_eq!(tasks.len(), 1, "one task for the scope, planned once");
    let task = tasks[0];
    assert_eq!(task.action, Action::Create);
    assert!(
        task.reason.contains("team-notebook-openai"),
        "{}",
        task.reason
    );
    assert!(
        task.depends_on.contains(&modify.address) && task.depends_on.contains(&grant.address),
        "{:?}",
        task.depends_on
    );
    let tb = task.write.as_ref().unwrap().body.as_ref().unwrap();
    assert_eq!(tb["properties"]["policyAssignmentId"], json!(modify.id));
    assert_eq!(
        tb["properties"]["resourceDiscoveryMode"],
        "ReEvaluateCompliance"
    );

    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    let assigned = first(&log, "PUT", "policyAssignments/moat-localauth-").unwrap();
    let granted = first(&log, "PUT", "roleAssignments").unwrap();
    let remediated = first(&log, "PUT", "remediations/moat-localauth-").unwrap();
    assert!(
        assigned < granted && granted < remediated,
        "the identity's role after the assignment, the task after both"
    );
    let team = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-ai-modify/providers/Microsoft.CognitiveServices/accounts/team-notebook-openai";
    let live = api.get(team, ACCOUNT_API).await.unwrap().unwrap();
    assert_eq!(
        live["properties"]["disableLocalAuth"], true,
        "fixed by the task"
    );
    let done = api.get(&task.id, "2024-10-01").await.unwrap().unwrap();
    assert_eq!(done["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        done["properties"]["deploymentStatus"],
        json!({"totalDeployments": 1, "successfulDeployments": 1, "failedDeployments": 0}),
        "the exempted account is skipped, the blueprint's accounts already comply"
    );
    let live_pa = api.get(&modify.id, "2025-11-01").await.unwrap().unwrap();
    let principal = live_pa["identity"]["principalId"].as_str().unwrap();
    let live_ra = api.get(&grant.id, "2022-04-01").await.unwrap().unwrap();
    assert_eq!(live_ra["properties"]["principalId"], principal);

    let again = plan(api.as_ref(), &bp).await;
    assert!(
        !again.has_changes() && !again.is_failed(),
        "a converged Modify assignment (principalId, tenantId added by Azure) is a no-op: {:#?}",
        again
            .changes()
            .filter(|c| c.action != Action::NoOp)
            .collect::<Vec<_>>()
    );

    // Someone turns keys back on by hand: Azure Policy's Modify turns them off in the request.
    let chat = account(&bp, "contoso-modify-chat");
    let keys_on = json!({"properties": {"disableLocalAuth": false}});
    api.patch(&chat, ACCOUNT_API, &keys_on, Precondition::None)
        .await
        .unwrap();
    let live = api.get(&chat, ACCOUNT_API).await.unwrap().unwrap();
    assert_eq!(live["properties"]["disableLocalAuth"], true);
    // The exempted account keeps its keys through any write.
    let legacy = account(&bp, "contoso-modify-legacy");
    api.patch(&legacy, ACCOUNT_API, &keys_on, Precondition::None)
        .await
        .unwrap();
    let live = api.get(&legacy, ACCOUNT_API).await.unwrap().unwrap();
    assert_eq!(live["properties"]["disableLocalAuth"], false);

    // The blueprint changes the effect to deny: moat's Modify assignment and its exemption go,
    // the Deny assignment and a new exemption come.
    for i in bp.instances.iter_mut() {
        for g in i.guardrails.iter_mut().filter(|g| g.control == "localAuth") {
            g.effect = "Deny".into();
        }
    }
    let p = plan(api.as_ref(), &bp).await;
    let of = |label: &str, action: Action| {
        p.changes()
            .filter(|c| c.kind.label() == label && c.action == action)
            .map(|c| c.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of("policy-assignment", Action::Delete),
        vec![modify.id.clone()]
    );
    assert_eq!(of("policy-assignment", Action::Create).len(), 1);
    assert_eq!(of("policy-exemption", Action::Delete).len(), 1);
    assert_eq!(of("policy-exemption", Action::Create).len(), 1);
    assert!(of("guardrail-grant", Action::Create).is_empty());
    assert_eq!(
        of("guardrail-grant", Action::Delete),
        vec![grant.id.clone()]
    );
    apply_and_converge(api.clone(), &p, &bp).await;
    emu.shutdown().await;
}

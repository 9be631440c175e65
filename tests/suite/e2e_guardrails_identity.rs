//! `guardrails: [{controls: {identity: deny}}]` end to end: the managed-identity built-in
//! (fe3fd216) is assigned after the accounts have their identities, the account whose
//! `no-managed-identity` exception keeps it without one is exempted, plan → apply → plan is
//! empty, and a direct ARM write that drops another account's identity is refused with
//! `RequestDisallowedByPolicy` while the exempted account may still go without.

use crate::support;

use moat::arm::{ArmError, Precondition};
use moat::plan::model::Action;
use serde_json::json;
use support::e2e::*;

const ACCOUNT_API: &str = "2026-03-01";

/// examples/guardrails.yaml with a managed identity in the defaults, the legacy account
/// without one by exception, and the identity control guarded with Deny.
fn blueprint(dir: &std::path::Path) -> moat::blueprint::resolved::Blueprint {
    let text = std::fs::read_to_string(repo("examples/guardrails.yaml")).unwrap();
    let text = text
        .replacen(
            "  controls:\n    localAuth:\n      disabled: true\n",
            "  controls:\n    identity:\n      type: SystemAssigned\n    localAuth:\n      disabled: true\n",
            1,
        )
        .replacen(
            "      localAuth:\n        disabled: false\n    exceptions:\n",
            "      localAuth:\n        disabled: false\n      identity:\n        type: None\n    exceptions:\n      - allows: no-managed-identity\n        reason: The appliance's client cannot use Entra tokens; tracked in CHG-2291\n",
            1,
        )
        .replacen("      networkAccess: deny\n", "      networkAccess: deny\n      identity: deny\n", 1);
    assert!(
        text.contains("type: SystemAssigned")
            && text.contains("allows: no-managed-identity")
            && text.contains("identity: deny"),
        "{text}"
    );
    let path = dir.join("guardrails-identity.yaml");
    std::fs::write(&path, text).unwrap();
    moat::blueprint::load(&path).unwrap_or_else(|d| panic!("{d}"))
}

#[tokio::test]
async fn an_identity_guardrail_denies_dropping_the_identity_except_where_waived() {
    let dir = tempfile::tempdir().unwrap();
    let bp = blueprint(dir.path());
    let emu = emulator("examples/guardrails-seed.json").await;
    let api = connect(&emu);
    let id = |name: &str| {
        bp.instances
            .iter()
            .find(|i| i.account_name == name)
            .unwrap()
            .account_id()
    };

    let p = plan(api.as_ref(), &bp).await;
    let identity: Vec<_> = p
        .changes()
        .filter(|c| c.kind.label() == "policy-assignment" && c.address.contains("moat-identity-"))
        .collect();
    assert_eq!(identity.len(), 1, "one assignment for the scope");
    let body = identity[0].write.as_ref().unwrap().body.as_ref().unwrap();
    assert_eq!(
        body["properties"]["policyDefinitionId"],
        "/providers/Microsoft.Authorization/policyDefinitions/fe3fd216-4f83-4fc1-8984-2bbec80a3418"
    );
    assert_eq!(body["properties"]["parameters"]["effect"]["value"], "Deny");
    let exempt: Vec<_> = p
        .changes()
        .filter(|c| c.kind.label() == "policy-exemption" && c.action == Action::Create)
        .map(|c| c.address.clone())
        .collect();
    assert_eq!(
        exempt.len(),
        2,
        "local auth and identity, both on legacy: {exempt:?}"
    );
    assert!(exempt
        .iter()
        .all(|a| a.starts_with("contoso-guard-legacy/")));

    apply_and_converge(api.clone(), &p, &bp).await;

    let drop = json!({"identity": {"type": "None"}});
    let refused = api
        .patch(
            &id("contoso-guard-search"),
            ACCOUNT_API,
            &drop,
            Precondition::None,
        )
        .await
        .unwrap_err();
    match refused {
        ArmError::Response {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!((status, code.as_str()), (403, "RequestDisallowedByPolicy"));
            assert!(
                message.contains("fe3fd216-4f83-4fc1-8984-2bbec80a3418"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let live = api
        .get(&id("contoso-guard-search"), ACCOUNT_API)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live["identity"]["type"], "SystemAssigned");
    // The exempted account may stay (and be written) without an identity.
    api.patch(
        &id("contoso-guard-legacy"),
        ACCOUNT_API,
        &drop,
        Precondition::None,
    )
    .await
    .expect("the exemption waives the Deny");
    emu.shutdown().await;
}

/// `privateEndpoint: audit` (d6759c02, Audit only): none of the example's accounts has a private
/// endpoint and the blueprint declares none, so the plan says, per account, that the assignment
/// will report it and that the blueprint leaves it so (not that the plan hardens it); the
/// assignment converges with no noise.
#[tokio::test]
async fn a_private_link_guardrail_reports_what_the_blueprint_leaves_public() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("examples/guardrails.yaml"))
        .unwrap()
        .replacen(
            "      networkAccess: deny\n",
            "      networkAccess: deny\n      privateEndpoint: audit\n",
            1,
        );
    let path = dir.path().join("guardrails-private-link.yaml");
    std::fs::write(&path, text).unwrap();
    let bp = moat::blueprint::load(&path).unwrap_or_else(|d| panic!("{d}"));
    let emu = emulator("examples/guardrails-seed.json").await;
    let api = connect(&emu);
    let p = plan(api.as_ref(), &bp).await;
    let pl: Vec<_> = p
        .changes()
        .filter(|c| c.address.contains("moat-privateendpoint-"))
        .collect();
    assert_eq!(pl.len(), 1, "{pl:#?}");
    let body = pl[0].write.as_ref().unwrap().body.as_ref().unwrap();
    assert_eq!(body["properties"]["parameters"]["effect"]["value"], "Audit");
    let notes: Vec<&String> = p
        .instances
        .iter()
        .flat_map(|i| &i.notes)
        .filter(|n| n.contains("controls.privateEndpoint"))
        .collect();
    assert_eq!(notes.len(), 5, "one per account: {notes:#?}");
    for n in &notes {
        assert!(n.contains("reports it non-compliant"), "{n}");
        assert!(n.contains("no Approved connection"), "{n}");
        assert!(n.contains("stays non-compliant"), "{n}");
        assert!(!n.contains("this plan hardens it"), "{n}");
    }
    apply_and_converge(api.clone(), &p, &bp).await;
    emu.shutdown().await;
}

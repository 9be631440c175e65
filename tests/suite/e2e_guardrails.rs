//! Guardrails (issue 18) end to end against the emulator: a fleet of five accounts in one
//! resource group, one with a `local-auth` exception; `guardrails` denies local auth and open
//! network access there. plan → apply → plan empty; the exempted account still serves keys; a
//! direct ARM write re-opening another account is refused with RequestDisallowedByPolicy;
//! removing the exception deletes the exemption, shown as a risk.

use crate::support;

use moat::arm::{ArmError, Precondition};
use moat::blueprint::resolved::{Blueprint, ExceptionKind};
use moat::plan::model::Action;
use serde_json::json;
use support::e2e::*;

const ACCOUNT_API: &str = "2026-03-01";

fn account(bp: &Blueprint, name: &str) -> String {
    bp.instances
        .iter()
        .find(|i| i.account_name == name)
        .unwrap()
        .account_id()
}

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
    assert!(apply(api.clone(), &p).await.ok());
    assert!(!plan(api.as_ref(), &bp).await.has_changes());
    emu.shutdown().await;
}

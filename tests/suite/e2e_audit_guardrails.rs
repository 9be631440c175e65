//! `MOAT-GV-001` end to end against the emulator (examples/guardrails.yaml: local auth and
//! network access denied in rg-ai-guarded, contoso-guard-legacy keeps keys by exception).
//! Before apply both guardrails are missing; after apply nothing is found; then a hand-made
//! weakening of each assignment (Audit where the blueprint says deny, DoNotEnforce) and
//! exemptions moat did not make are each found, the one the blueprint's exception covers
//! waived. The lists (`$filter=atScope()`) are read once per scope or account.

use moat::arm::{ArmRequest, Method, Precondition};
use moat::audit::discover::scopes;
use moat::audit::run::audit;
use moat::audit::Finding;
use moat::blueprint::resolved::Blueprint;
use serde_json::json;

use crate::support::e2e::*;

const SUB: &str = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10";
const PA_API: &str = "2025-11-01";
const PE_API: &str = "2026-01-01-preview";

fn gv(findings: &[Finding]) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|f| f.rule.id == "MOAT-GV-001")
        .collect()
}

fn assignment(bp: &Blueprint, control: &str) -> String {
    let g = bp.instances[0]
        .guardrails
        .iter()
        .find(|g| g.control == control)
        .unwrap();
    moat::resources::policy_assignment::id(g)
}

#[tokio::test]
async fn missing_weaker_and_foreign_exempted_guardrails_are_found() {
    let emu = emulator("examples/guardrails-seed.json").await;
    let api = connect(&emu);
    let bp = load("examples/guardrails.yaml");
    let scope = scopes(&[SUB.into()], &[]);

    // Nothing assigned yet: both guardrails are missing, once each (not once per account).
    let before = audit(api.clone(), &scope, Some(&bp)).await.unwrap();
    let missing = gv(&before.findings);
    assert_eq!(missing.len(), 2, "{missing:#?}");
    assert!(missing
        .iter()
        .all(|f| f.evidence[0].path == "policyAssignments" && f.evidence[0].observed.is_none()));

    let p = plan(api.as_ref(), &bp).await;
    assert!(apply(api.clone(), &p).await.ok());
    let after = audit(api.clone(), &scope, Some(&bp)).await.unwrap();
    assert!(gv(&after.findings).is_empty(), "{:#?}", gv(&after.findings));

    // By hand: the local-auth Deny becomes an Audit, the network Deny is switched off.
    let local = assignment(&bp, "localAuth");
    let network = assignment(&bp, "networkAccess");
    for (id, edit) in [
        (&local, json!({"effect": "Audit"})),
        (&network, json!({"enforcementMode": "DoNotEnforce"})),
    ] {
        let mut body = api.get(id, PA_API).await.unwrap().unwrap();
        if let Some(e) = edit.get("effect") {
            body["properties"]["parameters"]["effect"]["value"] = e.clone();
        }
        if let Some(m) = edit.get("enforcementMode") {
            body["properties"]["enforcementMode"] = m.clone();
        }
        api.put(id, PA_API, &body, Precondition::None)
            .await
            .unwrap();
    }
    // Exemptions moat did not make: the network assignment on contoso-guard-chat (no
    // exception: a finding), the local-auth one on the legacy account (its exception waives
    // local auth: waived), and an expired one (nothing).
    let chat = account(&bp, "contoso-guard-chat");
    let legacy = account(&bp, "contoso-guard-legacy");
    for (on, of, name, expires) in [
        (&chat, &network, "team-waiver", None),
        (&legacy, &local, "vendor-waiver", None),
        (&chat, &local, "old-waiver", Some("2020-01-01T00:00:00Z")),
    ] {
        let mut body = json!({"properties": {"policyAssignmentId": of, "exemptionCategory": "Waiver",
            "description": "asked for by the team"}});
        if let Some(e) = expires {
            body["properties"]["expiresOn"] = json!(e);
        }
        let id = format!("{on}/providers/Microsoft.Authorization/policyExemptions/{name}");
        api.put(&id, PE_API, &body, Precondition::None)
            .await
            .unwrap();
    }
    emu.clear_request_log();

    let tampered = audit(api.clone(), &scope, Some(&bp)).await.unwrap();
    let found = gv(&tampered.findings);
    let by_path = |p: &str| -> Vec<&&Finding> {
        found
            .iter()
            .filter(|f| f.evidence.iter().any(|e| e.path == p))
            .collect()
    };
    let weaker_effect = by_path("properties.parameters.effect.value");
    assert_eq!(weaker_effect.len(), 1, "{found:#?}");
    assert!(weaker_effect[0].resource_id.eq_ignore_ascii_case(&local));
    assert_eq!(weaker_effect[0].evidence[0].observed, Some(json!("Audit")));
    assert_eq!(weaker_effect[0].evidence[0].expected, Some(json!("Deny")));
    let off = by_path("properties.enforcementMode");
    assert_eq!(off.len(), 1, "{found:#?}");
    assert!(off[0].resource_id.eq_ignore_ascii_case(&network));
    let foreign = by_path("policyExemptions");
    assert_eq!(foreign.len(), 2, "the expired one is not found: {found:#?}");
    let team = foreign
        .iter()
        .find(|f| f.resource_id.ends_with("/team-waiver"))
        .unwrap();
    assert_eq!(team.instance, "contoso-guard-chat");
    assert!(team.waived_by.is_none());
    let vendor = foreign
        .iter()
        .find(|f| f.resource_id.ends_with("/vendor-waiver"))
        .unwrap();
    assert!(vendor
        .waived_by
        .as_deref()
        .unwrap()
        .starts_with("local-auth"));
    assert_eq!(found.len(), 4, "{found:#?}");

    // Reads: one assignment list per guardrail scope and one exemption list per account,
    // whatever the number of guardrails (the cache).
    let log = emu.request_log();
    let lists = |what: &str| {
        log.iter()
            .filter(|e| e.method == "GET" && e.path.to_ascii_lowercase().ends_with(what))
            .count()
    };
    assert_eq!(
        lists("/providers/microsoft.authorization/policyassignments"),
        1
    );
    assert_eq!(
        lists("/providers/microsoft.authorization/policyexemptions"),
        bp.instances.len()
    );

    // The emulator's lists, as Microsoft documents them: at the resource group, atScope()
    // leaves out the exemptions on accounts below it, the unfiltered list has them, and
    // excludeExpired() drops the expired one.
    let rg = format!("/subscriptions/{SUB}/resourceGroups/rg-ai-guarded/providers/Microsoft.Authorization/policyExemptions");
    let list = |filter: Option<&'static str>| {
        let mut req = ArmRequest::new(Method::Get, rg.clone(), PE_API);
        if let Some(f) = filter {
            req = req.with_query("$filter", f.to_string());
        }
        let api = api.clone();
        async move { api.list_query(req).await.unwrap().len() }
    };
    let all = list(None).await;
    assert_eq!(list(Some("atScope()")).await, 0);
    assert_eq!(list(Some("excludeExpired()")).await, all - 1);
    assert!(all >= 3, "{all}");
}

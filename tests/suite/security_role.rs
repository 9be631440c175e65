//! The least-privilege roles of docs/security.md are derived from what moat really does (issue
//! 21): the quickstart, greenfield (apply and destroy), customer-managed-key, alerts and guardrails (apply and destroy) flows run against
//! the emulator, every request is mapped to the ARM permission it needs (method + resource type →
//! `Microsoft.X/type/read|write|delete|action`), and the roles parsed from the doc must hold every
//! one of them, and nothing else beyond the commented allow-list below.

use crate::support;

use std::collections::BTreeSet;

use moat::emulator::RequestLogEntry;
use support::e2e::*;

/// Permissions the roles hold although no request of the flows maps to them, and why.
const NOT_FROM_REQUESTS: &[(&str, &str)] = &[
    // Linked-access checks: ARM checks these on the resource a write *references* (the subnet a
    // private endpoint or a VNet link joins, the zone a zone group joins, the NSG of a subnet),
    // not on the resource written, so no request names them.
    (
        "Microsoft.Network/virtualNetworks/join/action",
        "linked: VNet links join the VNet",
    ),
    (
        "Microsoft.Network/virtualNetworks/subnets/join/action",
        "linked: the endpoint joins the subnet",
    ),
    (
        "Microsoft.Network/privateDnsZones/join/action",
        "linked: the zone group joins the zone",
    ),
    (
        "Microsoft.Network/networkSecurityGroups/join/action",
        "linked: the subnet PUT carries its NSG",
    ),
    // ARM checks this on the account when an endpoint's connection to it is auto-approved.
    (
        "Microsoft.CognitiveServices/accounts/privateEndpointConnectionsApproval/action",
        "linked: the endpoint PUT approves its connection to the account",
    ),
    // Destroy deletes an action group only when moat created it (owner tag); the example flows'
    // groups are hand-made or absent.
    (
        "Microsoft.Insights/actionGroups/delete",
        "destroy of an action group moat created",
    ),
    // Only with `softDelete: purge` (tests/suite/e2e_greenfield_soft_delete.rs), not in the
    // example flows.
    (
        "Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts/delete",
        "softDelete: purge",
    ),
];

/// The ARM permission a request needs, from its method and the resource type of its path.
fn permission(e: &RequestLogEntry) -> Option<String> {
    let path = e.path.trim_end_matches('/');
    let (_, tail) = path.rsplit_once("/providers/")?;
    let mut segs: Vec<&str> = tail.split('/').collect();
    let ns = segs.remove(0);
    let (types, action): (Vec<&str>, Option<&str>) = if e.method == "POST" {
        // .../type/name/action
        let action = segs.pop();
        (segs.iter().step_by(2).copied().collect(), action)
    } else {
        (segs.iter().step_by(2).copied().collect(), None)
    };
    let verb = match (e.method.as_str(), action) {
        ("POST", Some(a)) => format!("{a}/action"),
        ("GET", _) => "read".into(),
        ("PUT" | "PATCH", _) => "write".into(),
        ("DELETE", _) => "delete".into(),
        _ => return None,
    };
    Some(format!("{ns}/{}/{verb}", types.join("/")))
}

/// Operation polling (`locations/…/operationResults|operationStatuses`) is covered by the
/// permission of the write that started it.
fn is_poll(e: &RequestLogEntry) -> bool {
    let p = e.path.to_ascii_lowercase();
    p.contains("/operationresults/")
        || p.contains("/operationstatuses/")
        || p.contains("/asyncoperations/")
}

/// A write moat makes only for guardrails: a policy assignment or exemption, a remediation
/// task, or the role
/// assignment of a Modify assignment's identity, which sits at the guardrail's scope (a resource
/// group or subscription) rather than on a resource like the instances' own grants.
fn is_guardrail_write(e: &RequestLogEntry) -> bool {
    let p = e.path.to_ascii_lowercase();
    if e.method == "GET" {
        return false;
    }
    if p.contains("/providers/microsoft.authorization/policyassignments/")
        || p.contains("/providers/microsoft.authorization/policyexemptions/")
        || p.contains("/providers/microsoft.policyinsights/remediations/")
    {
        return true;
    }
    p.contains("/providers/microsoft.authorization/roleassignments/")
        && p.matches("/providers/").count() == 1
}

/// The "moat guardrails" role alone (granted at the guardrail's scope, apart from the applier
/// role) holds every write moat apply makes for guardrails, including the role assignment a
/// Modify assignment's identity needs (destroy's deletes are the destroyer role's).
fn guardrails_role_holds_what_guardrails_write(log: &[RequestLogEntry]) {
    let doc = std::fs::read_to_string(repo("docs/security.md")).unwrap();
    let role = doc
        .split("```json")
        .skip(1)
        .map(|b| serde_json::from_str::<serde_json::Value>(b.split("```").next().unwrap()).unwrap())
        .find(|r| r["Name"] == "moat guardrails")
        .expect("docs/security.md has the moat guardrails role");
    let held: BTreeSet<String> = role["Actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_ascii_lowercase())
        .collect();
    let needed: BTreeSet<String> = log
        .iter()
        .filter(|e| !is_poll(e) && is_guardrail_write(e))
        .filter_map(permission)
        .collect();
    assert!(
        needed.iter().any(|n| n.contains("roleAssignments/write")),
        "the guardrail flows grant a Modify identity its role: {needed:#?}"
    );
    assert!(
        needed.iter().any(|n| n.contains("remediations/write")),
        "the guardrail flows start a remediation task: {needed:#?}"
    );
    let missing: Vec<&String> = needed
        .iter()
        .filter(|n| !held.contains(&n.to_ascii_lowercase()))
        .collect();
    assert!(
        missing.is_empty(),
        "the moat guardrails role lacks what guardrails write: {missing:#?}"
    );
}

/// The `Actions` and `NotActions` of every role in docs/security.md's JSON blocks.
fn documented_roles() -> (BTreeSet<String>, BTreeSet<String>) {
    let doc = std::fs::read_to_string(repo("docs/security.md")).unwrap();
    let (mut actions, mut not_actions) = (BTreeSet::new(), BTreeSet::new());
    for block in doc.split("```json").skip(1) {
        let json = block.split("```").next().unwrap();
        let role: serde_json::Value = serde_json::from_str(json).unwrap();
        for (key, set) in [("Actions", &mut actions), ("NotActions", &mut not_actions)] {
            for a in role[key].as_array().unwrap() {
                set.insert(a.as_str().unwrap().to_string());
            }
        }
    }
    assert!(!actions.is_empty(), "no role found in docs/security.md");
    (actions, not_actions)
}

/// Apply `blueprint` to `seed` and check it converges; the greenfield and guardrails flows are
/// then destroyed (the guardrails examples' accounts seeded as moat's, which destroy requires).
/// The apply requests go to `log`, the destroy requests to `destroyed`.
async fn apply_flow(
    seed: &str,
    blueprint: &str,
    log: &mut Vec<RequestLogEntry>,
    destroyed: &mut Vec<RequestLogEntry>,
) {
    let guardrails = blueprint.contains("guardrails");
    let emu = if guardrails {
        emulator_owned(seed).await
    } else {
        emulator(seed).await
    };
    let api = connect(&emu);
    let bp = load(blueprint);
    let p = plan(api.as_ref(), &bp).await;
    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{blueprint}: {:?}", report.failed);
    assert!(
        !plan(api.as_ref(), &bp).await.has_changes(),
        "{blueprint} converges"
    );
    log.extend(emu.request_log());
    if guardrails || blueprint.ends_with("greenfield.yaml") {
        emu.clear_request_log();
        let names: Vec<String> = bp.instances.iter().map(|i| i.name.clone()).collect();
        let observed = moat::observe::observe(api.as_ref(), &bp).await.unwrap();
        let d = moat::plan::destroy::plan(&bp, &names, &observed);
        assert!(d.has_changes() && !d.is_failed(), "{blueprint}: destroy");
        let report = apply(api.clone(), &d).await;
        assert!(report.ok(), "destroy: {:?}", report.failed);
        destroyed.extend(emu.request_log());
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_roles_hold_exactly_the_permissions_moat_uses() {
    let (mut log, mut destroyed) = (Vec::new(), Vec::new());
    for (seed, bp) in [
        ("examples/quickstart-seed.json", "examples/quickstart.yaml"),
        ("examples/greenfield-seed.json", "examples/greenfield.yaml"),
        ("examples/cmk-seed.json", "examples/cmk.yaml"),
        ("examples/alerts-seed.json", "examples/alerts.yaml"),
        ("examples/guardrails-seed.json", "examples/guardrails.yaml"),
        (
            "examples/guardrails-modify-seed.json",
            "examples/guardrails-modify.yaml",
        ),
        (
            "examples/guardrails-diagnostics-seed.json",
            "examples/guardrails-diagnostics.yaml",
        ),
    ] {
        apply_flow(seed, bp, &mut log, &mut destroyed).await;
    }
    guardrails_role_holds_what_guardrails_write(&log);
    log.extend(destroyed);
    let used: BTreeSet<String> = log
        .iter()
        .filter(|e| !is_poll(e))
        .filter_map(permission)
        .collect();
    let (actions, not_actions) = documented_roles();
    let lower = |s: &BTreeSet<String>| -> BTreeSet<String> {
        s.iter().map(|a| a.to_ascii_lowercase()).collect()
    };
    let (used_l, actions_l) = (lower(&used), lower(&actions));
    let missing: Vec<&String> = used
        .iter()
        .filter(|u| !actions_l.contains(&u.to_ascii_lowercase()))
        .collect();
    let allowed: BTreeSet<String> = NOT_FROM_REQUESTS
        .iter()
        .map(|(a, _)| a.to_ascii_lowercase())
        .collect();
    let unused: Vec<&String> = actions
        .iter()
        .filter(|a| {
            !used_l.contains(&a.to_ascii_lowercase()) && !allowed.contains(&a.to_ascii_lowercase())
        })
        .collect();
    println!(
        "security-role: {} requests, {} permissions used: {used:#?}",
        log.len(),
        used.len()
    );
    assert!(
        missing.is_empty(),
        "moat uses permissions the documented roles lack: {missing:#?}"
    );
    assert!(
        unused.is_empty(),
        "the documented roles grant permissions moat never uses: {unused:#?}"
    );
    for (a, why) in NOT_FROM_REQUESTS {
        assert!(
            actions_l.contains(&a.to_ascii_lowercase()),
            "{a} ({why}) is allow-listed but not in the roles"
        );
    }
    for key in ["listKeys", "regenerateKey"] {
        assert!(!used.iter().any(|u| u.contains(key)), "moat called {key}");
        assert!(
            not_actions.iter().any(|n| n.contains(key)),
            "the applier role must exclude {key}"
        );
    }
}

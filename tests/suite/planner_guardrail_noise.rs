//! Noise, per guardrail kind: policy assignments, exemptions and remediation tasks as Azure
//! answers them —
//! Microsoft's example GET response for the type (REST spec examples, kept in
//! `tests/emulator_arm_examples/`: `Microsoft.Authorization__getPolicyAssignment.json` from
//! specification/resources/resource-manager/Microsoft.Authorization/policy/stable/2025-11-01/
//! examples/getPolicyAssignment.json, `Microsoft.Authorization__getPolicyExemptionWithResourceSelectors.json`
//! from …/policy/preview/2026-01-01-preview/examples/getPolicyExemptionWithResourceSelectors.json,
//! `Microsoft.PolicyInsights__Remediations_CreateSubscriptionScope_ResourceIdsFilter.json` from
//! specification/policyinsights/…/PolicyInsights/stable/2024-10-01/examples/, whose answer is
//! the remediation as GET shows it)
//! carrying what moat wrote, with what Azure adds (`scope`, `instanceId`, `definitionVersion`,
//! identity `principalId` / `tenantId`, `createdBy`/`createdOn` in metadata,
//! `assignmentScopeValidation`, `systemData`) and the id casing it may change — and then the
//! random casing, ordering and server-added fields of the general noise test. None of it may
//! plan a change; a real difference must.

use std::path::Path;

use moat::blueprint::resolved::Blueprint;
use moat::model::{Action, Change, KindId};
use moat::observe::Observed;
use moat::resources::{policy_assignment, policy_exemption, policy_remediation};
use serde_json::{json, Value};

use crate::planner_alert_noise::{kind_noise, read_of};
use crate::planner_noise::mutate;
use crate::support::example_in;

const GUARD_KINDS: [KindId; 3] = [
    policy_assignment::KIND,
    policy_exemption::KIND,
    policy_remediation::KIND,
];
/// The guardrails-remediate scenario (guardrails-modify with `remediate: [localAuth]` and a
/// team's account with keys on in the scope): two assignments (Modify and Deny), one exemption
/// and one remediation task.
const GUARD_RESOURCES: usize = 4;

const REMEDIATION_EXAMPLE: &str =
    "Microsoft.PolicyInsights__Remediations_CreateSubscriptionScope_ResourceIdsFilter.json";

fn examples() -> &'static Path {
    Path::new("tests/emulator_arm_examples")
}

fn lower_rg(id: &str) -> String {
    id.replace("/resourceGroups/", "/resourcegroups/")
}

/// Microsoft's answer for `change`'s type, carrying what moat's create would write, with what
/// the server adds and rewrites.
fn server_answer(change: &Change) -> Value {
    let write = change.write.as_ref().expect("a create writes");
    let sent = write.body.clone().expect("a PUT has a body");
    if change.kind == policy_remediation::KIND {
        return remediation_answer(change, &sent);
    }
    let assignment = change.kind == policy_assignment::KIND;
    let file = if assignment {
        "Microsoft.Authorization__getPolicyAssignment.json"
    } else {
        "Microsoft.Authorization__getPolicyExemptionWithResourceSelectors.json"
    };
    let mut body = example_in(examples(), file);
    body["id"] = json!(lower_rg(&change.id));
    body["name"] = json!(change.id.rsplit('/').next().unwrap());
    let props = body["properties"].as_object_mut().unwrap();
    if assignment {
        props.remove("metadata");
    } else {
        // Selectors and reference ids are the example's own; moat writes neither and Azure does
        // not invent them.
        props.remove("resourceSelectors");
        props.remove("policyDefinitionReferenceIds");
        props.remove("metadata");
    }
    for (k, v) in sent["properties"].as_object().unwrap() {
        props.insert(k.clone(), v.clone());
    }
    let p = &mut body["properties"];
    p["metadata"]["createdBy"] = json!("2b7e6f1c-0c5b-4f7e-9f55-4c6f7d1e2a3b");
    p["metadata"]["createdOn"] = json!("2026-12-03T10:00:00.1234567Z");
    p["metadata"]["updatedBy"] = Value::Null;
    p["metadata"]["updatedOn"] = Value::Null;
    if assignment {
        let scope = change.id.split("/providers/").next().unwrap();
        p["scope"] = json!(lower_rg(scope));
        p["policyDefinitionId"] = json!(p["policyDefinitionId"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase());
        if let Some(identity) = sent.get("identity") {
            body["identity"] = identity.clone();
            body["identity"]["principalId"] = json!("9a1f6c1e-57a4-4c3e-8d2f-3b6e1c0d7a21");
            body["identity"]["tenantId"] = json!("72f988bf-86f1-41af-91ab-2d7cd011db47");
            body["location"] = sent["location"].clone();
        }
    } else {
        p["policyAssignmentId"] = json!(lower_rg(p["policyAssignmentId"].as_str().unwrap()));
    }
    body
}

/// Microsoft's remediation, finished, carrying what moat sent: the id and assignment id
/// lower-cased as in the example, `resourceCount` / `parallelDeployments` / `failureThreshold`
/// kept (Azure's defaults, not moat's), the example's own filters and reference id dropped.
fn remediation_answer(change: &Change, sent: &Value) -> Value {
    let mut body = example_in(examples(), REMEDIATION_EXAMPLE);
    body["id"] = json!(lower_rg(&change.id).replace(
        "/providers/Microsoft.PolicyInsights/",
        "/providers/microsoft.policyinsights/"
    ));
    body["name"] = json!(change.id.rsplit('/').next().unwrap());
    let props = body["properties"].as_object_mut().unwrap();
    props.remove("filters");
    props.remove("policyDefinitionReferenceId");
    for (k, v) in sent["properties"].as_object().unwrap() {
        props.insert(k.clone(), v.clone());
    }
    let p = &mut body["properties"];
    p["policyAssignmentId"] = json!(p["policyAssignmentId"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase());
    p["provisioningState"] = json!("Succeeded");
    p["deploymentStatus"] =
        json!({"totalDeployments": 1, "successfulDeployments": 1, "failedDeployments": 0});
    body
}

/// The guardrails-remediate scenario's blueprint and its live state with every assignment,
/// exemption and remediation task as Azure answers moat's create.
fn answered() -> (Blueprint, Observed) {
    let dir = Path::new("tests/golden/guardrails-remediate");
    let bp = moat::blueprint::load(&dir.join("blueprint.yaml")).unwrap();
    let text = std::fs::read_to_string(dir.join("observed.json")).unwrap();
    let mut observed: Observed = serde_json::from_str(&text).unwrap();
    let creates: Vec<Change> = moat::plan::plan(&bp, &observed)
        .changes()
        .filter(|c| GUARD_KINDS.contains(&c.kind))
        .cloned()
        .collect();
    assert_eq!(creates.len(), GUARD_RESOURCES, "{creates:#?}");
    for c in &creates {
        assert_eq!(c.action, Action::Create, "{}", c.address);
        let read = read_of(c);
        let answer = server_answer(c);
        // A shared assignment or task is read by every instance in its scope; an exemption by
        // its own.
        let shared = c.kind != policy_exemption::KIND;
        let mut placed = false;
        for inst in &mut observed.instances {
            if shared || c.address.starts_with(&format!("{}/", inst.name)) {
                inst.reads.insert(&read, Some(answer.clone()));
                placed = true;
            }
        }
        assert!(placed, "{} has an instance", c.address);
    }
    (bp, observed)
}

fn guard_noise(bp: &Blueprint, observed: &Observed) -> Vec<String> {
    kind_noise(bp, observed, &GUARD_KINDS, GUARD_RESOURCES)
}

fn is_guard_body(v: &Value) -> bool {
    v["id"].as_str().is_some_and(|id| {
        let id = id.to_ascii_lowercase();
        id.contains("/policyassignments/")
            || id.contains("/policyexemptions/")
            || id.contains("/remediations/")
    })
}

#[test]
fn guardrail_kinds_as_azure_answers_them_plan_no_change() {
    let (bp, observed) = answered();
    let noise = guard_noise(&bp, &observed);
    assert!(noise.is_empty(), "{noise:#?}");
}

#[test]
fn casing_ordering_and_server_fields_on_guardrail_bodies_never_produce_a_change() {
    let (bp, observed) = answered();
    for seed in 0..128u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut noisy = observed.clone();
        for inst in &mut noisy.instances {
            for v in inst.reads.values_mut().flatten() {
                if is_guard_body(v) {
                    mutate(v, None, &mut rng);
                }
            }
        }
        let noise = guard_noise(&bp, &noisy);
        assert!(noise.is_empty(), "seed {seed}: {noise:#?}");
    }
}

/// The comparison is not blind: an effect, an enforcement mode, an exclusion, a definition or
/// an exemption's expiry changed on the server is a change.
#[test]
fn a_real_difference_on_a_guardrail_is_planned() {
    let (bp, observed) = answered();
    let edits: &[(&str, &str, Value)] = &[
        ("/policyassignments/moat-localauth", "/properties/parameters/effect/value", json!("Disabled")),
        ("/policyassignments/moat-networkaccess", "/properties/enforcementMode", json!("DoNotEnforce")),
        ("/policyassignments/moat-networkaccess", "/properties/notScopes", json!(["/subscriptions/x/resourceGroups/y"])),
        ("/policyassignments/moat-localauth", "/properties/policyDefinitionId", json!("/providers/Microsoft.Authorization/policyDefinitions/00000000-0000-0000-0000-000000000000")),
        ("/policyexemptions/", "/properties/expiresOn", json!("2100-01-01T00:00:00Z")),
        ("/policyexemptions/", "/properties/exemptionCategory", json!("Mitigated")),
    ];
    for (kind, pointer, value) in edits {
        let mut edited = observed.clone();
        let mut hit = false;
        for inst in &mut edited.instances {
            for v in inst.reads.values_mut().flatten() {
                let matches = v["id"]
                    .as_str()
                    .is_some_and(|id| id.to_ascii_lowercase().contains(kind));
                if matches {
                    *v.pointer_mut(pointer)
                        .unwrap_or_else(|| panic!("{pointer}")) = value.clone();
                    hit = true;
                }
            }
        }
        assert!(hit, "{kind} is in the observed state");
        assert!(
            !guard_noise(&bp, &edited).is_empty(),
            "{kind} {pointer} = {value} is a change"
        );
    }
}

/// A task is one-shot: found (in any state) it plans nothing; once the accounts comply the
/// scope's list finds none and nothing is read or planned; an account that breaks the Modify
/// later is a new set of accounts, and gets a new task.
#[test]
fn a_remediation_is_planned_once_per_set_of_non_compliant_accounts() {
    let (bp, observed) = answered();
    let tasks = |o: &Observed| -> Vec<(String, Action)> {
        moat::plan::plan(&bp, o)
            .changes()
            .filter(|c| c.kind == policy_remediation::KIND)
            .map(|c| (c.id.clone(), c.action))
            .collect()
    };
    let before = tasks(&observed);
    assert_eq!(before.len(), 1);
    assert_eq!(
        before[0].1,
        Action::NoOp,
        "the finished task is not started again"
    );

    // Still running: nothing new either (the plan notes it).
    let mut running = observed.clone();
    for inst in &mut running.instances {
        for v in inst.reads.values_mut().flatten() {
            if v["id"]
                .as_str()
                .is_some_and(|i| i.contains("/remediations/"))
            {
                v["properties"]["provisioningState"] = json!("Evaluating");
            }
        }
    }
    assert_eq!(tasks(&running), before);

    // The scope's account list (the only list holding the team's account).
    let accounts = |edit: &dyn Fn(&mut Vec<Value>)| {
        let mut o = observed.clone();
        for inst in &mut o.instances {
            for v in inst.reads.values_mut().flatten() {
                if let Value::Array(items) = v {
                    if items.iter().any(|a| a["name"] == "team-sandbox-openai") {
                        edit(items);
                    }
                }
            }
        }
        o
    };
    let fixed = accounts(&|items| {
        for a in items.iter_mut() {
            if a["name"] == "team-sandbox-openai" {
                a["properties"]["disableLocalAuth"] = json!(true);
            }
        }
    });
    assert!(tasks(&fixed).is_empty(), "compliant accounts need no task");

    let another = accounts(&|items| {
        let mut a = items.last().unwrap().clone();
        a["id"] = json!(a["id"]
            .as_str()
            .unwrap()
            .replace("team-sandbox-openai", "team-lab-openai"));
        a["name"] = json!("team-lab-openai");
        items.push(a);
    });
    let after = tasks(&another);
    assert_eq!(after.len(), 1);
    assert_eq!(
        after[0].1,
        Action::Create,
        "a new set of accounts gets its own task"
    );
    assert_ne!(after[0].0, before[0].0);
}

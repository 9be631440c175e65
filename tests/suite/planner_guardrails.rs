//! The guardrail kinds in the pure planner, on the converged guardrails fleet
//! (tests/golden/guardrails-exemption-expired/observed.json, planned with its unexpired
//! blueprint, examples/guardrails.yaml): what Azure adds or re-cases on an assignment is no
//! change; a weakened assignment (DoNotEnforce, an exclusion) is put back as a regression.

use moat::observe::Observed;
use moat::plan::model::{Action, Plan};
use serde_json::{json, Value};

fn converged() -> (moat::blueprint::resolved::Blueprint, Observed) {
    let bp = moat::blueprint::load(std::path::Path::new("examples/guardrails.yaml")).unwrap();
    let text =
        std::fs::read_to_string("tests/golden/guardrails-exemption-expired/observed.json").unwrap();
    (bp, serde_json::from_str(&text).unwrap())
}

/// Every observed policy assignment, mutably.
fn assignments(obs: &mut Observed) -> Vec<&mut Value> {
    obs.instances
        .iter_mut()
        .flat_map(|i| i.reads.values_mut())
        .filter_map(|v| v.as_mut())
        .filter(|v| {
            v["type"].as_str().is_some_and(|t| {
                t.eq_ignore_ascii_case("Microsoft.Authorization/policyAssignments")
            })
        })
        .collect()
}

fn writes(p: &Plan) -> Vec<(String, Action, bool)> {
    p.changes()
        .filter(|c| c.action.is_write())
        .map(|c| (c.kind.label().to_string(), c.action, c.regression))
        .collect()
}

#[test]
fn what_azure_adds_or_re_cases_on_an_assignment_is_no_change() {
    let (bp, mut obs) = converged();
    assert!(!moat::plan::plan(&bp, &obs).has_changes());
    let found = assignments(&mut obs);
    // Two assignments, each read by the five instances of the scope.
    assert_eq!(found.len(), 10);
    for a in found {
        let p = &mut a["properties"];
        let def = p["policyDefinitionId"]
            .as_str()
            .unwrap()
            .to_ascii_uppercase();
        p["policyDefinitionId"] = json!(def);
        p["parameters"]["effect"]["value"] = json!("deny");
        p["enforcementMode"] = json!("default");
        p["metadata"]["updatedBy"] = json!("someone");
        p["assignmentType"] = json!("Custom");
        p["nonComplianceMessages"] = json!([]);
        a["identity"] = json!({"type": "None"});
        a["systemData"] = json!({"createdAt": "2026-12-01T00:00:00Z"});
    }
    let p = moat::plan::plan(&bp, &obs);
    assert!(!p.has_changes(), "{:#?}", writes(&p));
}

#[test]
fn a_weakened_assignment_is_put_back_as_a_regression() {
    let (bp, mut obs) = converged();
    let excluded = bp.instances[1].account_id();
    for a in assignments(&mut obs) {
        if a["name"].as_str().unwrap().starts_with("moat-localauth-") {
            a["properties"]["enforcementMode"] = json!("DoNotEnforce");
        } else {
            a["properties"]["notScopes"] = json!([excluded]);
        }
    }
    let p = moat::plan::plan(&bp, &obs);
    let w = writes(&p);
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(w
        .iter()
        .all(|(k, a, _)| k == "policy-assignment" && *a == Action::Update));
    assert!(
        w.iter().any(|(_, _, regression)| *regression),
        "DoNotEnforce is a weak value: {w:#?}"
    );
    let c = p
        .changes()
        .find(|c| c.fields.iter().any(|f| f.path == "properties.notScopes"))
        .expect("the exclusion is removed");
    assert_eq!(
        c.write.as_ref().unwrap().body.as_ref().unwrap()["properties"]["notScopes"],
        json!([])
    );
}

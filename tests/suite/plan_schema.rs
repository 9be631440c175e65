//! `moat schema --plan`: the published JSON Schema of the plan document. Every golden plan
//! validates; so does a plan with every optional field set and every enum variant used, built here
//! from the model's types with struct literals, so a field added to the model does not compile
//! here until it is set, and then fails validation until the schema has it. The negative tests
//! prove the schema is closed (`additionalProperties: false` on every object) and lists what moat
//! always writes as required; the last checks the one meaning of `failed`, `has_changes` and the
//! summary counts on every document.

use std::path::PathBuf;

use moat::arm::Method;
use moat::model::{
    Action, Adopt, Bind, BlueprintRef, Change, Compare, FieldChange, Gate, InstancePlan, KindId,
    Match, Plan, Resend, StandingException, Write, PLAN_FORMAT_VERSION,
};
use moat::render::schema::plan_schema;
use serde_json::{json, Value};

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&plan_schema()).expect("the plan schema is valid draft 2020-12")
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}

fn golden_plans() -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("tests/golden").unwrap() {
        let p = e.unwrap().path().join("expected.json");
        if p.is_file() {
            let doc = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            out.push((p, doc));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_golden_plan_validates_against_the_plan_schema() {
    let v = validator();
    let plans = golden_plans();
    assert!(plans.len() >= 9, "only {} golden plans", plans.len());
    for (path, doc) in &plans {
        let e = errors(&v, doc);
        assert!(e.is_empty(), "{}: {e:#?}", path.display());
    }
}

// Every variant of the model's enums: a variant added to the model makes these matches
// non-exhaustive, so it cannot be left out of the maximal plan.
fn next_action(a: Option<Action>) -> Option<Action> {
    use Action::*;
    match a {
        None => Some(Create),
        Some(Create) => Some(Update),
        Some(Update) => Some(Delete),
        Some(Delete) => Some(NoOp),
        Some(NoOp) => Some(Drift),
        Some(Drift) => Some(Verified),
        Some(Verified) => Some(Blocked),
        Some(Blocked) => None,
    }
}

fn next_compare(c: Option<Compare>) -> Option<Compare> {
    use Compare::*;
    match c {
        None => Some(Text),
        Some(Text) => Some(Id),
        Some(Id) => Some(LastSegment),
        Some(LastSegment) => None,
    }
}

fn next_method(m: Option<Method>) -> Option<Method> {
    use Method::*;
    match m {
        None => Some(Get),
        Some(Get) => Some(Put),
        Some(Put) => Some(Patch),
        Some(Patch) => Some(Delete),
        Some(Delete) => Some(Post),
        Some(Post) => None,
    }
}

fn all<T: Copy>(next: fn(Option<T>) -> Option<T>) -> Vec<T> {
    std::iter::successors(next(None), |x| next(Some(*x))).collect()
}

fn kinds() -> Vec<KindId> {
    moat::resources::KINDS
        .iter()
        .map(|k| KindId::new(k.meta().label))
        .collect()
}

const ACCOUNT: &str =
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a";

/// A plan with every optional field set, every list non-empty and every enum variant used
/// (struct literals throughout: no constructor fills a new field in silently).
fn maximal_plan() -> Plan {
    let kinds = kinds();
    let methods = all(next_method);
    let gate = |i: usize| Gate {
        kind: kinds[i % kinds.len()].clone(),
        ids: vec![format!("{ACCOUNT}/gated/{i}"), ACCOUNT.to_string()],
    };
    let actions = all(next_action);
    let n = actions.len().max(kinds.len()).max(methods.len());
    let changes: Vec<Change> = (0..n)
        .map(|i| Change {
            address: format!("max/{}/c{i}", kinds[i % kinds.len()]),
            kind: kinds[i % kinds.len()].clone(),
            id: format!("{ACCOUNT}/child/{i}"),
            action: actions[i % actions.len()],
            fields: vec![FieldChange {
                path: "properties.publicNetworkAccess".into(),
                before: Some(json!("Enabled")),
                after: Some(json!({"nested": [1, null, true]})),
            }],
            reason: "every field set".into(),
            risk: Some("weakens security: nothing, it is a test".into()),
            blocked: Some("refused for the test".into()),
            exception: Some("local-auth: vendor appliance".into()),
            depends_on: vec![format!("max/x/c{}", i + 1)],
            gates: vec![gate(i), gate(i + 1)],
            regression: true,
            observed: match i % 3 {
                0 => "etag:W/\"1\"".into(),
                1 => format!("sha256:{}", "ab".repeat(32)),
                _ => "absent".into(),
            },
            write: Some(Write {
                method: methods[i % methods.len()],
                path: format!("{ACCOUNT}/child/{i}"),
                api_version: "2024-10-01".into(),
                body: Some(json!({"properties": {"x": i}})),
                if_match: Some("W/\"1\"".into()),
                if_none_match: true,
                lock: Some(format!("account:{ACCOUNT}")),
                first_on_lock: true,
                resend: Some(Resend {
                    code: "AccountProvisioningStateInvalid".into(),
                    gate: gate(i + 2),
                    times: 5,
                }),
                adopt: Some(Adopt {
                    code: "RoleAssignmentExists".into(),
                    list: format!("{ACCOUNT}/providers/Microsoft.Authorization/roleAssignments"),
                    api_version: "2022-04-01".into(),
                    matches: all(next_compare)
                        .into_iter()
                        .map(|compare| Match {
                            path: "properties.scope".into(),
                            value: ACCOUNT.into(),
                            compare,
                        })
                        .collect(),
                }),
                bind: vec![Bind {
                    path: "properties.principalId".into(),
                    from: ACCOUNT.into(),
                    api_version: "2024-10-01".into(),
                    field: "identity.principalId".into(),
                }],
            }),
        })
        .collect();
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        moat_version: "0.0.0-test".into(),
        blueprint: BlueprintRef {
            path: "fleet.yaml".into(),
            path_from_plan: Some("../fleet.yaml".into()),
            digest: "cd".repeat(32),
        },
        instances: vec![InstancePlan {
            name: "max".into(),
            subscription: "00000000-0000-0000-0000-000000000001".into(),
            account_id: ACCOUNT.into(),
            changes,
            notes: vec!["a privileged role moat leaves alone".into()],
            exceptions: vec![StandingException {
                allows: "local-auth".into(),
                reason: "vendor appliance".into(),
                expires: Some("2027-09-30".into()),
                days_left: Some(-3),
            }],
            rotation: Some(moat::model::RotationDue {
                vault: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"
                    .into(),
                secret: "max-key".into(),
                status: moat::model::RotationStatus::Due,
                key: Some("Key1".into()),
                at: Some("2027-01-02T03:04:05Z".into()),
                detail: "the overlap ended".into(),
            }),
        }],
    }
}

/// A plan with nothing optional: what moat always writes.
fn minimal_plan() -> Plan {
    let kind = kinds()[0].clone();
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        moat_version: "0.0.0-test".into(),
        blueprint: BlueprintRef {
            path: "fleet.yaml".into(),
            path_from_plan: None,
            digest: "cd".repeat(32),
        },
        instances: vec![InstancePlan {
            name: "min".into(),
            subscription: "00000000-0000-0000-0000-000000000001".into(),
            account_id: ACCOUNT.into(),
            changes: vec![Change::new(
                format!("min/{kind}/a"),
                kind,
                ACCOUNT,
                Action::NoOp,
                "matches",
                "absent".into(),
            )],
            notes: Vec::new(),
            exceptions: Vec::new(),
            rotation: None,
        }],
    }
}

fn document(plan: &Plan) -> Value {
    serde_json::from_str(&moat::render::json::render(plan)).unwrap()
}

#[test]
fn a_plan_with_every_field_set_validates() {
    let doc = document(&maximal_plan());
    let e = errors(&validator(), &doc);
    assert!(
        e.is_empty(),
        "a plan field is missing from the schema: {e:#?}"
    );
    // The document really holds what the test claims to cover.
    let text = doc.to_string();
    for key in [
        "path_from_plan",
        "days_left",
        "bind",
        "adopt",
        "resend",
        "first_on_lock",
        "if_none_match",
        "before",
        "exception",
        "notes",
        "rotation",
    ] {
        assert!(text.contains(&format!("\"{key}\"")), "{key} not written");
    }
}

/// The JSON pointers of every object in `v` that the schema closes (the free-form JSON values
/// of bodies and field values excepted).
fn closed_objects(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            out.push(at.clone());
            for (k, child) in m {
                if !matches!(k.as_str(), "body" | "before" | "after") {
                    closed_objects(child, format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                closed_objects(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn a_field_the_schema_does_not_know_is_rejected_on_every_object() {
    let v = validator();
    let doc = document(&maximal_plan());
    assert!(v.is_valid(&doc), "the unchanged document must pass");
    let mut objects = Vec::new();
    closed_objects(&doc, String::new(), &mut objects);
    assert!(objects.len() > 50, "{} objects", objects.len());
    for at in objects {
        let mut bad = doc.clone();
        bad.pointer_mut(&at)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert("added_field".into(), json!(1));
        assert!(
            !v.is_valid(&bad),
            "an unknown field at {at:?} passes the schema"
        );
    }
}

#[test]
fn every_field_moat_always_writes_is_required() {
    let v = validator();
    let doc = document(&minimal_plan());
    assert!(errors(&v, &doc).is_empty(), "{:#?}", errors(&v, &doc));
    let mut objects = Vec::new();
    closed_objects(&doc, String::new(), &mut objects);
    let mut checked = 0;
    for at in objects {
        let keys: Vec<String> = doc
            .pointer(&at)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        for key in keys {
            let mut bad = doc.clone();
            bad.pointer_mut(&at)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(&key);
            assert!(!v.is_valid(&bad), "{at}/{key} may be left out");
            checked += 1;
        }
    }
    assert!(checked >= 25, "{checked}");
}

#[test]
fn the_schema_enums_are_the_models_and_reject_other_values() {
    let schema = plan_schema();
    let defs = &schema["$defs"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let as_json = |v: Vec<Value>| -> Vec<String> {
        v.into_iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let actions = as_json(all(next_action).into_iter().map(|a| json!(a)).collect());
    assert_eq!(strings(&defs["action"]["enum"]), actions);
    let compares = as_json(all(next_compare).into_iter().map(|a| json!(a)).collect());
    assert_eq!(
        strings(&defs["match"]["properties"]["compare"]["enum"]),
        compares
    );
    let methods = as_json(all(next_method).into_iter().map(|a| json!(a)).collect());
    assert_eq!(
        strings(&defs["write"]["properties"]["method"]["enum"]),
        methods
    );
    let labels: Vec<String> = kinds().iter().map(|k| k.to_string()).collect();
    assert_eq!(strings(&defs["kind"]["enum"]), labels);

    let v = validator();
    let doc = document(&maximal_plan());
    for (pointer, value) in [
        ("/plan/instances/0/changes/0/action", json!("replace")),
        ("/plan/instances/0/changes/0/kind", json!("no-such-kind")),
        ("/plan/instances/0/changes/0/write/method", json!("HEAD")),
        ("/plan/format_version", json!(PLAN_FORMAT_VERSION + 1)),
        ("/format_version", json!(PLAN_FORMAT_VERSION + 1)),
        ("/digest", json!("sha256:short")),
        ("/summary/create", json!(-1)),
        ("/has_changes", json!("yes")),
    ] {
        let mut bad = doc.clone();
        *bad.pointer_mut(pointer).unwrap() = value.clone();
        assert!(!v.is_valid(&bad), "{pointer} = {value} passes the schema");
    }
}

#[test]
fn the_schema_is_versioned_with_the_plan_format() {
    let s = plan_schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(s["$id"], format!("urn:moat:plan:v{PLAN_FORMAT_VERSION}"));
    assert_eq!(
        s["properties"]["format_version"]["const"],
        PLAN_FORMAT_VERSION
    );
    assert_eq!(
        s["$defs"]["plan"]["properties"]["format_version"]["const"],
        PLAN_FORMAT_VERSION
    );
}

/// `failed`, `has_changes` and the counts mean one thing each, as the schema describes them.
fn check_meanings(doc: &Value) -> Result<(), String> {
    let changes: Vec<&Value> = doc["plan"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["changes"].as_array().unwrap())
        .collect();
    let n = |a: &[&str]| {
        changes
            .iter()
            .filter(|c| a.contains(&c["action"].as_str().unwrap()))
            .count() as u64
    };
    let s = &doc["summary"];
    let count = |k: &str| s[k].as_u64().unwrap();
    for (key, actions) in [
        ("create", &["create"][..]),
        ("update", &["update"]),
        ("delete", &["delete"]),
        ("drift", &["drift"]),
        ("blocked", &["blocked"]),
        ("unchanged", &["no-op", "verified"]),
    ] {
        if count(key) != n(actions) {
            return Err(format!(
                "summary.{key} = {}, changes: {}",
                count(key),
                n(actions)
            ));
        }
    }
    let total: u64 = [
        "create",
        "update",
        "delete",
        "drift",
        "blocked",
        "unchanged",
    ]
    .iter()
    .map(|k| count(k))
    .sum();
    if total != changes.len() as u64 {
        return Err(format!("counts sum to {total}, {} changes", changes.len()));
    }
    let risks = changes
        .iter()
        .filter(|c| {
            c.get("risk").is_some()
                && ["create", "update", "delete"].contains(&c["action"].as_str().unwrap())
        })
        .count() as u64;
    if count("risks") != risks {
        return Err(format!(
            "summary.risks = {}, {risks} risky writes",
            count("risks")
        ));
    }
    let writes = count("create") + count("update") + count("delete");
    if doc["has_changes"] != json!(writes > 0) {
        return Err(format!(
            "has_changes {} with {writes} writes",
            doc["has_changes"]
        ));
    }
    let expired = doc["plan"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| {
            i.get("exceptions").is_some_and(|e| {
                e.as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x.get("days_left").is_some_and(|d| d.as_i64().unwrap() < 0))
            })
        });
    let failed = count("blocked") + count("drift") > 0 || expired;
    if doc["failed"] != json!(failed) {
        return Err(format!(
            "failed {} but blocked/drift/expired say {failed}",
            doc["failed"]
        ));
    }
    Ok(())
}

#[test]
fn failed_has_changes_and_the_counts_mean_what_the_schema_says() {
    let mut docs = golden_plans();
    docs.push(("maximal".into(), document(&maximal_plan())));
    docs.push(("minimal".into(), document(&minimal_plan())));
    let mut seen = std::collections::BTreeSet::new();
    for (path, doc) in &docs {
        check_meanings(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen.insert((doc["failed"].as_bool(), doc["has_changes"].as_bool()));
    }
    assert_eq!(
        seen.len(),
        4,
        "every (failed, has_changes) pair is checked: {seen:?}"
    );
    // A wrong summary is caught (the check can fail).
    let mut bad = document(&minimal_plan());
    bad["summary"]["unchanged"] = json!(0);
    assert!(check_meanings(&bad).is_err());
}

fn moat_schema(args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("moat")
        .unwrap()
        .arg("schema")
        .args(args)
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap()
}

#[test]
fn moat_schema_prints_the_plan_and_apply_event_schemas() {
    for (flag, expected) in [
        ("--plan", plan_schema()),
        ("--apply-events", moat::apply::events::schema()),
    ] {
        let o = moat_schema(&[flag]);
        assert_eq!(o.status.code(), Some(0), "{flag}");
        let printed: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(printed, expected, "{flag}");
        jsonschema::draft202012::new(&printed)
            .unwrap_or_else(|e| panic!("{flag}: not a valid draft 2020-12 schema: {e}"));
    }
    // Without a flag: the blueprint's, as before.
    let o = moat_schema(&[]);
    let printed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(printed, moat::blueprint::json_schema());
    // One schema at a time; a usage error exits 1.
    let o = moat_schema(&["--plan", "--apply-events"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
}

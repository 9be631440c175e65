//! M2 noise, per alert kind: an action group, activity-log rules and metric rules as Azure
//! answers them — Microsoft's example response for the type, with what moat wrote in it and the
//! server's rewrites (MONITORING.md: lower-cased `microsoft.insights` ids, scopes without their
//! leading `/`, `category` → `Category`, `hidden-link:` tags, `targetResourceType` /
//! `targetResourceRegion`, thresholds as floats, a `status` per receiver, `webHookProperties`)
//! — and then the random casing, ordering and server-added fields of the general noise test.
//! None of it may plan a change.

use std::path::Path;

use moat::blueprint::resolved::Blueprint;
use moat::model::observed::Read;
use moat::model::{Action, Change, KindId};
use moat::observe::Observed;
use moat::resources::{action_group, activity_log_alert, log_alert, metric_alert};
use serde_json::{json, Value};

use crate::planner_noise::mutate;
use crate::support::example_in;

const ALERT_KINDS: [KindId; 4] = [
    action_group::KIND,
    activity_log_alert::KIND,
    metric_alert::KIND,
    log_alert::KIND,
];
/// The alert resources of the converged scenario: a group, two activity-log, two metric rules
/// and one log rule.
const ALERT_RESOURCES: usize = 6;

fn examples() -> &'static Path {
    Path::new("tests/emulator_arm_examples")
}

fn is_alert_read(key: &str) -> bool {
    [
        "/actiongroups/",
        "/activitylogalerts/",
        "/metricalerts/",
        "/scheduledqueryrules/",
    ]
    .iter()
    .any(|t| key.contains(t))
}

fn lower_insights(id: &str) -> String {
    id.replace(
        "/providers/Microsoft.Insights/",
        "/providers/microsoft.insights/",
    )
}

/// Microsoft's answer for `change`'s type, carrying what moat's create would write, rewritten
/// as the server rewrites it.
fn server_answer(change: &Change, account_id: &str) -> Value {
    let write = change.write.as_ref().expect("a create writes");
    let sent = write.body.clone().expect("a PUT has a body");
    let (file, metric, activity) = match change.kind.label() {
        "action-group" => ("Microsoft.Insights__getActionGroup.json", false, false),
        "log-alert" => (
            "Microsoft.Insights__createOrUpdateScheduledQueryRule.json",
            false,
            false,
        ),
        "activity-log-alert" => (
            "Microsoft.Insights__ActivityLogAlertRule_CreateOrUpdate.json",
            false,
            true,
        ),
        "metric-alert" => (
            "Microsoft.Insights__createOrUpdateMetricAlertWithDimensions.json",
            true,
            false,
        ),
        other => panic!("not an alert kind: {other}"),
    };
    let mut body = example_in(examples(), file);
    body["id"] = json!(lower_insights(&change.id));
    body["name"] = json!(change.id.rsplit('/').next().unwrap());
    body["location"] = sent["location"].clone();
    body["tags"] = sent["tags"].clone();
    let props = body["properties"].as_object_mut().unwrap();
    for (k, v) in sent["properties"].as_object().unwrap() {
        props.insert(k.clone(), v.clone());
    }
    let p = &mut body["properties"];
    if let Some(receivers) = p["emailReceivers"].as_array_mut() {
        for r in receivers {
            r["status"] = json!("Enabled");
        }
    }
    if activity {
        for s in p["scopes"].as_array_mut().unwrap() {
            *s = json!(s.as_str().unwrap().trim_start_matches('/'));
        }
        let all = p["condition"]["allOf"].as_array_mut().unwrap();
        all[0]["field"] = json!("Category");
        for op in all[1]["anyOf"].as_array_mut().unwrap() {
            op["field"] = json!("OperationName");
            op["odata.type"] = Value::Null;
        }
        for g in p["actions"]["actionGroups"].as_array_mut().unwrap() {
            g["actionGroupId"] = json!(lower_insights(g["actionGroupId"].as_str().unwrap()));
        }
    }
    if metric {
        p["targetResourceType"] = json!("Microsoft.CognitiveServices/accounts");
        p["targetResourceRegion"] = json!("eastus");
        let c = &mut p["criteria"]["allOf"][0];
        c["threshold"] = json!(c["threshold"].as_f64().unwrap());
        c["metricNamespace"] = json!("microsoft.cognitiveservices/accounts");
        for a in p["actions"].as_array_mut().unwrap() {
            a["actionGroupId"] = json!(lower_insights(a["actionGroupId"].as_str().unwrap()));
            a["webHookProperties"] = json!({});
        }
    }
    if change.kind == log_alert::KIND {
        let c = &mut p["criteria"]["allOf"][0];
        c["threshold"] = json!(c["threshold"].as_f64().unwrap());
        // The query as a portal would re-indent it.
        let q = c["query"].as_str().unwrap().replace("\n| ", "\n    | ");
        c["query"] = json!(q);
        p["isWorkspaceAlertsStorageConfigured"] = json!(false);
        for g in p["actions"]["actionGroups"].as_array_mut().unwrap() {
            *g = json!(lower_insights(g.as_str().unwrap()).to_ascii_lowercase());
        }
        body["type"] = json!("microsoft.insights/scheduledqueryrules");
        let id = body["id"].as_str().unwrap();
        body["id"] = json!(id
            .replace("/resourceGroups/", "/resourcegroups/")
            .replace("/scheduledQueryRules/", "/scheduledqueryrules/"));
    }
    if metric {
        body["tags"][format!("hidden-link:{account_id}")] = json!("Resource");
    }
    if std::env::var_os("MOAT_DUMP_ALERT_ANSWERS").is_some() {
        eprintln!("ANSWER {}", serde_json::to_string(&body).unwrap());
    }
    body
}

/// The converged scenario's blueprint and its live state with every alert resource as Azure
/// answers moat's create.
fn answered() -> (Blueprint, Observed) {
    let dir = Path::new("tests/golden/converged");
    let bp = moat::blueprint::load(&dir.join("blueprint.yaml")).unwrap();
    let text = std::fs::read_to_string(dir.join("observed.json")).unwrap();
    let mut observed: Observed = serde_json::from_str(&text).unwrap();
    // Plan with the alert resources missing: the creates say what moat writes.
    let mut absent = observed.clone();
    let creates_of = |o: &Observed| {
        moat::plan::plan(&bp, o)
            .changes()
            .filter(|c| ALERT_KINDS.contains(&c.kind))
            .cloned()
            .collect::<Vec<Change>>()
    };
    for c in creates_of(&observed) {
        absent.instances[0].reads.insert(&read_of(&c), None);
    }
    let account_id = bp.instances[0].account_id();
    let creates = creates_of(&absent);
    assert_eq!(creates.len(), ALERT_RESOURCES, "{creates:#?}");
    for c in &creates {
        assert_eq!(c.action, Action::Create, "{}", c.address);
        let answer = server_answer(c, &account_id);
        observed.instances[0]
            .reads
            .insert(&read_of(c), Some(answer));
    }
    (bp, observed)
}

/// The read of the resource a change is about.
pub(crate) fn read_of(c: &Change) -> Read {
    let kind = moat::resources::find(&c.kind).expect("a known kind");
    Read::get(c.id.clone(), kind.meta().api_version)
}

/// The changes of `kinds` the plan makes that are not no-ops, after checking it planned all
/// `count` resources of those kinds.
pub(crate) fn kind_noise(
    bp: &Blueprint,
    observed: &Observed,
    kinds: &[KindId],
    count: usize,
) -> Vec<String> {
    let p = moat::plan::plan(bp, observed);
    let seen: Vec<&Change> = p.changes().filter(|c| kinds.contains(&c.kind)).collect();
    assert_eq!(seen.len(), count, "every resource of {kinds:?} is planned");
    seen.iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| format!("{} {:?} {:#?}", c.address, c.action, c.fields))
        .collect()
}

fn alert_noise(bp: &Blueprint, observed: &Observed) -> Vec<String> {
    kind_noise(bp, observed, &ALERT_KINDS, ALERT_RESOURCES)
}

#[test]
fn alert_kinds_as_azure_answers_them_plan_no_change() {
    let (bp, observed) = answered();
    let noise = alert_noise(&bp, &observed);
    assert!(noise.is_empty(), "{noise:#?}");
}

#[test]
fn casing_ordering_and_server_fields_on_alert_bodies_never_produce_a_change() {
    let (bp, observed) = answered();
    for seed in 0..128u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut noisy = observed.clone();
        for v in noisy.instances[0].reads.values_mut().flatten() {
            let alert = v["id"]
                .as_str()
                .is_some_and(|id| is_alert_read(&id.to_ascii_lowercase()));
            if alert {
                mutate(v, None, &mut rng);
            }
        }
        let noise = alert_noise(&bp, &noisy);
        assert!(noise.is_empty(), "seed {seed}: {noise:#?}");
    }
}

/// The comparison is not blind: a threshold, a window, a severity, a scope or an operation
/// changed on the server is a change.
#[test]
fn a_real_difference_on_an_alert_is_planned() {
    let (bp, observed) = answered();
    let edits: &[(&str, &str, Value)] = &[
        ("/metricalerts/", "/properties/criteria/allOf/0/threshold", json!(21.0)),
        ("/metricalerts/", "/properties/windowSize", json!("PT15M")),
        ("/metricalerts/", "/properties/severity", json!(4)),
        ("/metricalerts/", "/properties/scopes/0", json!("/subscriptions/x/resourceGroups/y/providers/Microsoft.CognitiveServices/accounts/other")),
        ("/activitylogalerts/", "/properties/condition/allOf/1/anyOf/0/equals", json!("Microsoft.CognitiveServices/accounts/write")),
        ("/activitylogalerts/", "/properties/enabled", json!(false)),
        ("/scheduledqueryrules/", "/properties/criteria/allOf/0/query", json!("AzureDiagnostics | take 1")),
        ("/scheduledqueryrules/", "/properties/windowSize", json!("PT6H")),
        ("/scheduledqueryrules/", "/properties/scopes/0", json!("/subscriptions/x/resourceGroups/y/providers/Microsoft.OperationalInsights/workspaces/other")),
    ];
    for (kind, pointer, value) in edits {
        let mut edited = observed.clone();
        let body = edited.instances[0]
            .reads
            .values_mut()
            .flatten()
            .find(|v| {
                v["id"]
                    .as_str()
                    .is_some_and(|id| id.to_ascii_lowercase().contains(kind))
            })
            .unwrap();
        *body
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer}")) = value.clone();
        assert!(
            !alert_noise(&bp, &edited).is_empty(),
            "{kind} {pointer} = {value} is a change"
        );
    }
}

//! `Microsoft.Insights/metricAlerts` (M2): the account's metric rules, one row each in
//! [`RULES`]: `contentFilter` (requests the content filter rejected, the seed's "high
//! content-filter rate") and `tokenUsage` (tokens consumed, the seed's "unusual token
//! consumption"). Both on platform metrics of `Microsoft.CognitiveServices/accounts` that
//! Microsoft's metric reference lists for Azure OpenAI (`RAIRejectedRequests`,
//! `TokenTransaction`), aggregated `Total` and split by `ModelDeploymentName`, so each
//! deployment is its own time series. No Azure OpenAI metric has a caller dimension: a
//! per-caller token limit needs a gateway (docs/alerts.md).
//!
//! Synchronous PUT, api-version 2018-03-01 (REST spec
//! `createOrUpdateMetricAlertWithDimensions.json`), `location: global`, in the instance's
//! resource group, named `{account}-{rule suffix}`, scoped to the account, criteria
//! `MultipleResourceMultipleMetricCriteria` with one `StaticThresholdCriterion`. The server adds
//! `targetResourceType` / `targetResourceRegion` and a `hidden-link:` tag, lower-cases the
//! action group ids and may answer numbers as floats; the comparison sees through all of them.
//! Plans show the criterion in one line (`Total RAIRejectedRequests > 20 per
//! ModelDeploymentName`). Turning a rule off needs the `alert-disabled` exception.

use serde_json::{json, Value};

use super::alert_rule::{self, Diff, Draft, Words};
use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Stage};
use super::{get_str, norm_id};
use crate::blueprint::resolved::{Instance, Mode};
use crate::model::{Change, KindId};

pub const API_VERSION: &str = "2018-03-01";
pub const KIND: KindId = KindId::new("metric-alert");

const NAMESPACE: &str = "Microsoft.CognitiveServices/accounts";
const CRITERIA_TYPE: &str = "Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria";
/// The dimension every rule splits by: one time series per model deployment.
pub const DIMENSION: &str = "ModelDeploymentName";

/// One metric rule: its field in `controls.alerts`, the metric, the defaults (the seed's values,
/// also the schema's), and its words in plans.
pub struct Rule {
    pub key: &'static str,
    pub metric: &'static str,
    pub threshold: i64,
    pub window: &'static str,
    pub frequency: &'static str,
    pub severity: i64,
    pub description: &'static str,
    pub words: Words,
}

pub const CONTENT_FILTER: Rule = Rule {
    key: "contentFilter",
    metric: "RAIRejectedRequests",
    threshold: 20,
    window: "PT5M",
    frequency: "PT1M",
    severity: 2,
    description: "moat M2: many requests rejected by the content filter on one deployment",
    words: Words {
        suffix: "content-filter",
        reason: "alert when the content filter rejects many requests on a deployment (M2)",
        lost: "no alert when a deployment's requests are rejected by the content filter in bulk (jailbreak or abuse attempts)",
    },
};

pub const TOKEN_USAGE: Rule = Rule {
    key: "tokenUsage",
    metric: "TokenTransaction",
    threshold: 500_000,
    window: "PT1H",
    frequency: "PT15M",
    severity: 2,
    description: "moat M2: unusual token consumption on one deployment",
    words: Words {
        suffix: "token-usage",
        reason: "alert when a deployment consumes unusually many tokens (M2)",
        lost: "no alert on unusual token consumption (stolen credentials, runaway clients)",
    },
};

/// Every metric rule moat keeps.
pub static RULES: &[&Rule] = &[&CONTENT_FILTER, &TOKEN_USAGE];

pub struct MetricAlertKind;

static META: Meta = Meta {
    label: "metric-alert",
    arm_type: "Microsoft.Insights/metricAlerts",
    api_version: API_VERSION,
    shared: false,
    managed: &[
        "location",
        "properties.severity",
        "properties.enabled",
        "properties.scopes",
        "properties.evaluationFrequency",
        "properties.windowSize",
        "properties.criteria",
        "properties.actions[].actionGroupId",
        "properties.autoMitigate",
        "properties.description",
    ],
    read_only: &[
        "properties.targetResourceType",
        "properties.targetResourceRegion",
        "properties.lastUpdatedTime",
        "properties.isMigrated",
    ],
    // Webhook properties of other tools' actions: moat sends none and compares none.
    ignored: &["tags", "properties.actions[].webHookProperties"],
    first_on_lock: false,
    weak: &[("properties.enabled", "false")],
};

/// The id of `rule` for `inst`.
pub fn rule_id(inst: &Instance, rule: &Rule) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Insights/metricAlerts/{}-{}",
        inst.subscription, inst.resource_group, inst.account_name, rule.words.suffix
    )
}

alert_rule::row!(Rule, rule_id);

/// A rule's settings: the blueprint's values over the rule's defaults.
pub struct Settings {
    pub enabled: bool,
    pub severity: i64,
    pub threshold: f64,
    pub window: String,
    pub frequency: String,
}

impl Settings {
    fn of(rule: &Rule, spec: &Value) -> Settings {
        Settings {
            enabled: spec["enabled"].as_bool().unwrap_or(true),
            severity: spec["severity"].as_i64().unwrap_or(rule.severity),
            threshold: spec["threshold"].as_f64().unwrap_or(rule.threshold as f64),
            window: get_str(spec, "window").unwrap_or(rule.window).to_string(),
            frequency: get_str(spec, "frequency")
                .unwrap_or(rule.frequency)
                .to_string(),
        }
    }
}

impl Kind for MetricAlertKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        alert_rule::reads(&alert_rule::declared(inst, RULES, API_VERSION))
    }

    fn destroy(&self, inst: &Instance, seen: &Reads, _in_use: &InUse) -> Planned {
        let declared = alert_rule::declared(inst, RULES, API_VERSION);
        alert_rule::destroy(inst, &KIND, &declared, seen)
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let mut out = Planned::default();
        for d in alert_rule::declared(inst, RULES, API_VERSION) {
            let (rule, live) = (d.rule, seen.value(&d.read));
            let settings = Settings::of(rule, d.spec);
            let on = (settings.enabled, true);
            if alert_rule::off_and_absent(&mut out, inst, &rule.words, on, live) {
                continue;
            }
            out.changes
                .push((Stage::Alerting, plan(inst, rule, d.mode, &settings, live)));
        }
        out
    }
}

/// The one criterion of `rule`: `Total {metric} > threshold`, split by deployment.
fn criteria(rule: &Rule, threshold: f64) -> Value {
    json!({
        "odata.type": CRITERIA_TYPE,
        "allOf": [{
            "name": rule.metric,
            "metricName": rule.metric,
            "metricNamespace": NAMESPACE,
            "operator": "GreaterThan",
            "threshold": number(threshold),
            "timeAggregation": "Total",
            "dimensions": [{"name": DIMENSION, "operator": "Include", "values": ["*"]}],
            "criterionType": "StaticThresholdCriterion",
        }],
    })
}

/// An integral threshold as a JSON integer (as the blueprint writes it), else a float.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// A criterion as the server means it: names, operators and aggregations without case, the
/// threshold as a number, dimensions sorted (values too).
fn canon_criterion(c: &Value) -> Value {
    let low = |k: &str| get_str(c, k).map(str::to_ascii_lowercase);
    let dims = alert_rule::canon_dimensions(&c["dimensions"]);
    json!({
        "metric": low("metricName"),
        "namespace": low("metricNamespace"),
        "operator": low("operator"),
        "threshold": c["threshold"].as_f64(),
        "aggregation": low("timeAggregation"),
        "type": low("criterionType"),
        "dimensions": dims,
    })
}

fn canon_criteria(criteria: &Value) -> Value {
    let mut all: Vec<Value> = criteria["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .map(canon_criterion)
        .collect();
    all.sort_by_key(Value::to_string);
    let kind = criteria
        .get("odata.type")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    json!({"type": kind, "allOf": all})
}

/// Criteria in one line, as plans show them: `Total RAIRejectedRequests > 20 per
/// ModelDeploymentName`.
pub fn summary(criteria: &Value) -> String {
    let parts: Vec<String> = criteria["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let op = match get_str(c, "operator").unwrap_or_default() {
                "GreaterThan" => ">".to_string(),
                "GreaterThanOrEqual" => ">=".to_string(),
                "LessThan" => "<".to_string(),
                "LessThanOrEqual" => "<=".to_string(),
                "Equals" => "=".to_string(),
                other => other.to_string(),
            };
            let threshold = c["threshold"]
                .as_f64()
                .map_or_else(|| "?".to_string(), |t| number(t).to_string());
            let mut line = format!(
                "{} {} {op} {threshold}",
                get_str(c, "timeAggregation").unwrap_or("?"),
                get_str(c, "metricName").unwrap_or("?"),
            );
            let dims: Vec<String> = c["dimensions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    let name = get_str(d, "name").unwrap_or("?");
                    let values: Vec<&str> = d["values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    match (get_str(d, "operator"), values.as_slice()) {
                        (Some("Include"), ["*"]) => name.to_string(),
                        (op, _) => format!("{name} {} ({})", op.unwrap_or("?"), values.join(", ")),
                    }
                })
                .collect();
            if !dims.is_empty() {
                line.push_str(&format!(" per {}", dims.join(", ")));
            }
            line
        })
        .collect();
    if parts.is_empty() {
        "(no criteria)".to_string()
    } else {
        parts.join(" and ")
    }
}

/// The action group ids of a live or wanted rule, lower-cased and sorted.
fn canon_groups(actions: &Value) -> Vec<String> {
    let mut out: Vec<String> = actions
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| get_str(a, "actionGroupId"))
        .map(norm_id)
        .collect();
    out.sort();
    out
}

fn plan(inst: &Instance, rule: &Rule, mode: Mode, s: &Settings, live: Option<&Value>) -> Change {
    let actions: Vec<Value> = super::action_group::target(inst)
        .into_iter()
        .map(|g| json!({"actionGroupId": g}))
        .collect();
    let want = json!({
        "location": "global",
        "properties": {
            "description": rule.description,
            "severity": s.severity,
            "enabled": s.enabled,
            "scopes": [inst.account_id()],
            "evaluationFrequency": s.frequency,
            "windowSize": s.window,
            "criteria": criteria(rule, s.threshold),
            "autoMitigate": true,
            "actions": actions,
        }
    });
    let mut diff = Diff::new(live, &want);
    diff.field("properties.windowSize", alert_rule::same_text);
    diff.field("properties.evaluationFrequency", alert_rule::same_text);
    diff.field("properties.severity", alert_rule::same_number);
    diff.field("properties.scopes", alert_rule::same_scopes);
    diff.shown(
        "properties.criteria",
        |l, w| canon_criteria(l) == canon_criteria(w),
        summary,
    );
    diff.field("properties.actions", |l, w| {
        canon_groups(l) == canon_groups(w)
    });
    diff.field("properties.enabled", alert_rule::same_bool);
    diff.field("properties.autoMitigate", alert_rule::same_bool);
    let fields = diff.fields;
    alert_rule::finish(Draft {
        inst,
        kind: KIND,
        id: rule_id(inst, rule),
        api_version: API_VERSION,
        mode,
        enabled: s.enabled,
        words: &rule.words,
        want,
        fields,
        live,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_read_in_one_line() {
        assert_eq!(
            summary(&criteria(&CONTENT_FILTER, 20.0)),
            "Total RAIRejectedRequests > 20 per ModelDeploymentName"
        );
        let mut c = criteria(&TOKEN_USAGE, 2.5);
        c["allOf"][0]["dimensions"][0]["values"] = json!(["gpt-4o", "gpt-4o-mini"]);
        assert_eq!(
            summary(&c),
            "Total TokenTransaction > 2.5 per ModelDeploymentName Include (gpt-4o, gpt-4o-mini)"
        );
    }

    #[test]
    fn the_servers_rewrites_compare_equal_and_a_threshold_does_not() {
        let want = criteria(&CONTENT_FILTER, 20.0);
        let mut live = want.clone();
        live["allOf"][0]["threshold"] = json!(20.0);
        live["allOf"][0]["metricNamespace"] = json!("microsoft.cognitiveservices/accounts");
        live["allOf"][0]["timeAggregation"] = json!("total");
        live["allOf"][0]["dimensions"][0]["name"] = json!("modeldeploymentname");
        assert_eq!(canon_criteria(&live), canon_criteria(&want));
        live["allOf"][0]["threshold"] = json!(21);
        assert_ne!(canon_criteria(&live), canon_criteria(&want));
    }
}

//! `Microsoft.Insights/activityLogAlerts` (M2): the account's activity-log rules, one row each
//! in [`RULES`]: `keyAccess` (someone lists or regenerates the API keys, a control-plane signal
//! that works whether or not key auth is off: with keys off the keys still exist and can be
//! read) and `configChange` (a deployment or RAI policy written or deleted, the account written).
//!
//! Synchronous PUT, api-version 2020-10-01 (REST spec `ActivityLogAlertRule_CreateOrUpdate.json`),
//! `location: Global`, in the instance's resource group, named `{account}-{rule suffix}`, scoped
//! to the account. Condition: category Administrative and one of the rule's operations.
//! Activity-log alerts have no severity: it is carried in the action's webhook properties
//! (`severity: Sev1`). The server re-cases condition field names
//! (`category` → `Category`), drops the leading `/` of scopes and lower-cases ids; the
//! comparison normalises all three. Turning a rule off is a weakening that needs the
//! `alert-disabled` exception, in the loader and here.

use serde_json::{json, Value};

use super::alert_rule::{self, Diff, Draft, Words};
use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Stage};
use super::{get_str, norm_id};
use crate::blueprint::resolved::{Instance, Mode};
use crate::model::{Change, KindId};

pub const API_VERSION: &str = "2020-10-01";
pub const KIND: KindId = KindId::new("activity-log-alert");

/// The operations the key-access rule fires on.
pub const KEY_OPERATIONS: &[&str] = &[
    "Microsoft.CognitiveServices/accounts/listKeys/action",
    "Microsoft.CognitiveServices/accounts/regenerateKey/action",
];

/// The operations the configuration-change rule fires on (MONITORING.md).
pub const CONFIG_OPERATIONS: &[&str] = &[
    "Microsoft.CognitiveServices/accounts/deployments/write",
    "Microsoft.CognitiveServices/accounts/deployments/delete",
    "Microsoft.CognitiveServices/accounts/raiPolicies/write",
    "Microsoft.CognitiveServices/accounts/raiPolicies/delete",
    "Microsoft.CognitiveServices/accounts/write",
];

/// One activity-log rule: its field in `controls.alerts`, the suffix of its name, the
/// operations it fires on, and its words in plans.
pub struct Rule {
    pub key: &'static str,
    pub operations: &'static [&'static str],
    /// The severity when the blueprint gives none (the schema's default).
    pub severity: i64,
    /// The rule's `description` in Azure.
    pub description: &'static str,
    /// Its name suffix and its words in plans.
    pub words: Words,
}

pub const KEY_ACCESS: Rule = Rule {
    key: "keyAccess",
    operations: KEY_OPERATIONS,
    severity: 1,
    description: "moat M2: someone listed or regenerated the account's API keys",
    words: Words {
        suffix: "key-access",
        reason: "alert when someone lists or regenerates the account's API keys (M2)",
        lost: "no alert when the account's API keys are read",
    },
};

pub const CONFIG_CHANGE: Rule = Rule {
    key: "configChange",
    operations: CONFIG_OPERATIONS,
    severity: 3,
    description:
        "moat M2: a deployment or RAI policy was written or deleted, or the account written",
    words: Words {
        suffix: "config-change",
        reason: "alert when a deployment, RAI policy or the account itself is changed (M2)",
        lost: "no alert when a deployment, content filter or the account is changed",
    },
};

/// Every activity-log rule moat keeps.
pub static RULES: &[&Rule] = &[&KEY_ACCESS, &CONFIG_CHANGE];

pub struct ActivityLogAlertKind;

static META: Meta = Meta {
    label: "activity-log-alert",
    arm_type: "Microsoft.Insights/activityLogAlerts",
    api_version: API_VERSION,
    shared: false,
    managed: &[
        "location",
        "properties.scopes",
        "properties.condition.allOf",
        "properties.actions.actionGroups[].actionGroupId",
        "properties.actions.actionGroups[].webhookProperties",
        "properties.enabled",
        "properties.description",
    ],
    read_only: &[],
    ignored: &["tags"],
    first_on_lock: false,
    weak: &[("properties.enabled", "false")],
};

/// The id of the key-access rule of `inst`.
pub fn id(inst: &Instance) -> String {
    rule_id(inst, &KEY_ACCESS)
}

/// The id of `rule` for `inst`.
pub fn rule_id(inst: &Instance, rule: &Rule) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Insights/activityLogAlerts/{}-{}",
        inst.subscription, inst.resource_group, inst.account_name, rule.words.suffix
    )
}

alert_rule::row!(Rule, rule_id);

impl Kind for ActivityLogAlertKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        alert_rule::reads(&alert_rule::declared(inst, RULES, API_VERSION))
    }

    /// Each declared rule moat created (its owner tag), in a managed control; a rule someone
    /// else made under the same name is kept, with a note.
    fn destroy(&self, inst: &Instance, seen: &Reads, _in_use: &InUse) -> Planned {
        let declared = alert_rule::declared(inst, RULES, API_VERSION);
        alert_rule::destroy(inst, &KIND, &declared, seen)
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let mut out = Planned::default();
        for d in alert_rule::declared(inst, RULES, API_VERSION) {
            let (rule, live) = (d.rule, seen.value(&d.read));
            let enabled = d.spec["enabled"].as_bool().unwrap_or(true);
            if alert_rule::off_and_absent(&mut out, inst, &rule.words, (enabled, true), live) {
                continue;
            }
            let severity = d.spec["severity"].as_i64().unwrap_or(rule.severity);
            let change = plan(inst, rule, d.mode, enabled, severity, live);
            out.changes.push((Stage::Alerting, change));
        }
        out
    }
}

/// The condition: category Administrative and one of the rule's operations.
fn condition(rule: &Rule) -> Value {
    let ops: Vec<Value> = rule
        .operations
        .iter()
        .map(|op| json!({"field": "operationName", "equals": op}))
        .collect();
    json!({"allOf": [
        {"field": "category", "equals": "Administrative"},
        {"anyOf": ops},
    ]})
}

/// The keys of a condition that carry its meaning; anything else the server adds
/// (`odata.type`, nulls, fields newer than moat) is not compared.
const CONDITION_KEYS: &[&str] = &["allof", "anyof", "field", "equals", "containsany"];

/// A condition as the server means it: field names and values lower-cased, only the keys that
/// carry meaning, `anyOf` members in a stable order.
fn canon_condition(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut out = serde_json::Map::new();
            for (k, x) in o {
                if x.is_null() || !CONDITION_KEYS.contains(&k.to_ascii_lowercase().as_str()) {
                    continue;
                }
                let x = match (k.as_str(), x) {
                    ("field" | "equals", Value::String(s)) => Value::from(s.to_ascii_lowercase()),
                    _ => canon_condition(x),
                };
                out.insert(k.to_ascii_lowercase(), x);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(canon_condition).collect();
            items.sort_by_key(Value::to_string);
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// The actions as (lower-cased group id, the severity moat carries in the webhook properties),
/// sorted. Other webhook keys are not moat's and not compared.
fn canon_actions(actions: &Value) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = actions
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let id = norm_id(get_str(a, "actionGroupId")?);
            let hook = a
                .get("webhookProperties")
                .or_else(|| a.get("webHookProperties"));
            let severity = hook
                .and_then(|h| h.get("severity"))
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase);
            Some((id, severity))
        })
        .collect();
    out.sort();
    out
}

/// A condition in one line, as plans show it: `Category = Administrative and operationName
/// in (…/listKeys/action, …/regenerateKey/action)`.
pub fn summary(condition: &Value) -> String {
    fn leaf(v: &Value) -> Option<String> {
        let field = get_str(v, "field")?;
        if let Some(eq) = get_str(v, "equals") {
            return Some(format!("{field} = {}", short_op(eq)));
        }
        let any: Vec<&str> = v
            .get("containsAny")?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        Some(format!("{field} contains any of ({})", any.join(", ")))
    }
    fn part(v: &Value) -> String {
        if let Some(any) = v.get("anyOf").and_then(Value::as_array) {
            let fields: Vec<Option<&str>> = any.iter().map(|x| get_str(x, "field")).collect();
            let one_field = fields.windows(2).all(|w| {
                w[0].is_some()
                    && w[0].map(str::to_ascii_lowercase) == w[1].map(str::to_ascii_lowercase)
            });
            if one_field && any.len() > 1 && any.iter().all(|x| get_str(x, "equals").is_some()) {
                let vals: Vec<String> = any
                    .iter()
                    .filter_map(|x| get_str(x, "equals"))
                    .map(short_op)
                    .collect();
                return format!("{} in ({})", fields[0].unwrap_or_default(), vals.join(", "));
            }
            let parts: Vec<String> = any.iter().map(part).collect();
            return format!("({})", parts.join(" or "));
        }
        leaf(v).unwrap_or_else(|| v.to_string())
    }
    let all = condition.get("allOf").and_then(Value::as_array);
    match all {
        Some(all) if !all.is_empty() => all.iter().map(part).collect::<Vec<_>>().join(" and "),
        _ => "(no condition)".to_string(),
    }
}

/// An operation without its provider prefix, for one-line summaries.
fn short_op(op: &str) -> String {
    op.strip_prefix("Microsoft.CognitiveServices/")
        .map_or_else(|| op.to_string(), |rest| format!("…/{rest}"))
}

fn plan(
    inst: &Instance,
    rule: &Rule,
    mode: Mode,
    enabled: bool,
    severity: i64,
    live: Option<&Value>,
) -> Change {
    let actions: Vec<Value> = super::action_group::target(inst)
        .into_iter()
        .map(|g| json!({"actionGroupId": g, "webhookProperties": {"severity": format!("Sev{severity}")}}))
        .collect();
    let want = json!({
        "location": "Global",
        "properties": {
            "scopes": [inst.account_id()],
            "condition": condition(rule),
            "actions": {"actionGroups": actions},
            "enabled": enabled,
            "description": rule.description,
        }
    });
    let mut diff = Diff::new(live, &want);
    diff.field("properties.scopes", alert_rule::same_scopes);
    diff.shown(
        "properties.condition",
        |l, w| canon_condition(l) == canon_condition(w),
        summary,
    );
    diff.field("properties.actions.actionGroups", |l, w| {
        canon_actions(l) == canon_actions(w)
    });
    diff.field("properties.enabled", alert_rule::same_bool);
    let fields = diff.fields;
    alert_rule::finish(Draft {
        inst,
        kind: KIND,
        id: rule_id(inst, rule),
        api_version: API_VERSION,
        mode,
        enabled,
        words: &rule.words,
        want,
        fields,
        live,
    })
}

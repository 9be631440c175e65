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

use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Stage};
use super::{fingerprint, get, get_str, norm_id, OWNER_TAG, OWNER_VALUE};
use crate::arm::Method;
use crate::blueprint::resolved::{ExceptionKind, Instance, Mode};
use crate::model::{Change, FieldChange, KindId, Write};

pub const API_VERSION: &str = "2020-10-01";
pub const KIND: KindId = KindId::new("activity-log-alert");
use super::action_group::CONTROL;

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
    pub suffix: &'static str,
    pub operations: &'static [&'static str],
    /// The severity when the blueprint gives none (the schema's default).
    pub severity: i64,
    /// The rule's `description` in Azure.
    pub description: &'static str,
    /// Why moat keeps it, for the plan.
    pub reason: &'static str,
    /// What is lost when it is off, for the plan's risk.
    pub lost: &'static str,
}

pub const KEY_ACCESS: Rule = Rule {
    key: "keyAccess",
    suffix: "key-access",
    operations: KEY_OPERATIONS,
    severity: 1,
    description: "moat M2: someone listed or regenerated the account's API keys",
    reason: "alert when someone lists or regenerates the account's API keys (M2)",
    lost: "no alert when the account's API keys are read",
};

pub const CONFIG_CHANGE: Rule = Rule {
    key: "configChange",
    suffix: "config-change",
    operations: CONFIG_OPERATIONS,
    severity: 3,
    description:
        "moat M2: a deployment or RAI policy was written or deleted, or the account written",
    reason: "alert when a deployment, RAI policy or the account itself is changed (M2)",
    lost: "no alert when a deployment, content filter or the account is changed",
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
};

/// The id of the key-access rule of `inst`.
pub fn id(inst: &Instance) -> String {
    rule_id(inst, &KEY_ACCESS)
}

/// The id of `rule` for `inst`.
pub fn rule_id(inst: &Instance, rule: &Rule) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Insights/activityLogAlerts/{}-{}",
        inst.subscription, inst.resource_group, inst.account_name, rule.suffix
    )
}

/// The control's mode and the rule's fields, when `inst` declares the rule.
fn spec<'i>(inst: &'i Instance, rule: &Rule) -> Option<(Mode, &'i Value)> {
    let ctl = inst.controls.generic(CONTROL)?;
    let spec = ctl.spec.get(rule.key).filter(|r| r.is_object())?;
    Some((ctl.mode, spec))
}

fn read(inst: &Instance, rule: &Rule) -> Option<Read> {
    spec(inst, rule).map(|_| Read::get(rule_id(inst, rule), API_VERSION))
}

impl Kind for ActivityLogAlertKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        RULES.iter().filter_map(|rule| read(inst, rule)).collect()
    }

    /// Each declared rule moat created (its owner tag), in a managed control; a rule someone
    /// else made under the same name is kept, with a note.
    fn destroy(&self, inst: &Instance, seen: &Reads, _in_use: &InUse) -> Planned {
        let mut out = Planned::default();
        for rule in RULES {
            let (Some((Mode::Managed, _)), Some(r)) = (spec(inst, rule), read(inst, rule)) else {
                continue;
            };
            let Some(live) = seen.value(&r) else { continue };
            if !super::owned_by_tag(live) {
                out.notes.push(format!(
                    "the {} alert rule is kept: moat did not create it (no owner tag)",
                    rule.suffix
                ));
                continue;
            }
            let change = super::delete_change(
                format!("{}/activity-log-alert/{}", inst.name, rule.suffix),
                KIND,
                &r.path,
                API_VERSION,
                format!("the {} alert rule moat created", rule.suffix),
                format!("weakens security: {}", rule.lost),
                live,
            );
            out.changes.push((Stage::Alerting, change));
        }
        out
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let mut out = Planned::default();
        for rule in RULES {
            let (Some((mode, spec)), Some(r)) = (spec(inst, rule), read(inst, rule)) else {
                continue;
            };
            let live = seen.value(&r);
            let enabled = spec["enabled"].as_bool().unwrap_or(true);
            if !enabled && live.is_none() {
                out.notes.push(format!(
                    "{}: the {} alert is off (its exception allows it) and does not exist",
                    inst.name, rule.suffix
                ));
                continue;
            }
            let severity = spec["severity"].as_i64().unwrap_or(rule.severity);
            let change = plan(inst, rule, mode, enabled, severity, live);
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

/// A condition as the server means it: field names and values lower-cased, `odata.type` and
/// nulls dropped, `anyOf` members in a stable order.
fn canon_condition(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut out = serde_json::Map::new();
            for (k, x) in o {
                if x.is_null() || k == "odata.type" {
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

/// The live actions as (lower-cased id, webhook properties), sorted.
fn canon_actions(actions: &Value) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = actions
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let id = norm_id(get_str(a, "actionGroupId")?);
            let hook = a
                .get("webhookProperties")
                .filter(|h| h.as_object().is_some_and(|o| !o.is_empty()))
                .cloned()
                .unwrap_or(Value::Null);
            Some((id, hook))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn canon_scopes(scopes: &Value) -> Vec<String> {
    let mut out: Vec<String> = scopes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(norm_id)
        .collect();
    out.sort();
    out
}

fn plan(
    inst: &Instance,
    rule: &Rule,
    mode: Mode,
    enabled: bool,
    severity: i64,
    live: Option<&Value>,
) -> Change {
    let id = rule_id(inst, rule);
    let address = format!("{}/activity-log-alert/{}", inst.name, rule.suffix);
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
    let at = |v: Option<&Value>, p: &str| v.and_then(|v| get(v, p)).cloned();
    let mut fields = Vec::new();
    let mut compare = |path: &str, same: bool, w: &Value| {
        if !same {
            fields.push(FieldChange {
                path: path.into(),
                before: at(live, path),
                after: get(w, path).cloned(),
            });
        }
    };
    let l = |p: &str| at(live, p).unwrap_or(Value::Null);
    compare(
        "properties.scopes",
        canon_scopes(&l("properties.scopes")) == canon_scopes(&want["properties"]["scopes"]),
        &want,
    );
    compare(
        "properties.condition",
        canon_condition(&l("properties.condition")) == canon_condition(&condition(rule)),
        &want,
    );
    compare(
        "properties.actions.actionGroups",
        canon_actions(&l("properties.actions.actionGroups"))
            == canon_actions(&want["properties"]["actions"]["actionGroups"]),
        &want,
    );
    compare(
        "properties.enabled",
        l("properties.enabled").as_bool() == Some(enabled),
        &want,
    );
    if live.is_none() {
        fields.clear();
    }
    let differs = live.is_none() || !fields.is_empty();
    let action = super::outcome(mode, live.is_some(), differs);
    let turning_off = !enabled && l("properties.enabled").as_bool() != Some(false);
    let exception = inst
        .exceptions
        .iter()
        .find(|e| e.allows == ExceptionKind::AlertDisabled);
    if turning_off && action.is_write() && exception.is_none() {
        let why = format!(
            "refusing to weaken security: the {} alert off, and the blueprint has no `alert-disabled` exception",
            rule.suffix
        );
        return Change::blocked(address, KIND, &id, &why, fingerprint(live));
    }
    let reason = if enabled {
        rule.reason.to_string()
    } else {
        format!(
            "the {} alert off, as the blueprint's exception allows (M2)",
            rule.suffix
        )
    };
    let mut c = Change::new(address, KIND, &id, action, &reason, fingerprint(live));
    c.fields = fields;
    if action.is_write() {
        let mut body = want;
        body["tags"] = live
            .and_then(|l| l.get("tags"))
            .filter(|t| t.is_object())
            .cloned()
            .unwrap_or_else(|| json!({OWNER_TAG: OWNER_VALUE}));
        let mut w = Write::new(Method::Put, &id, API_VERSION, Some(body));
        match live {
            Some(l) => w = w.if_match(l),
            None => w.if_none_match = true,
        }
        c.write = Some(w);
        if turning_off {
            c.risk = Some(format!("weakens security: {}", rule.lost));
            c.exception = exception.map(|e| format!("{}: {}", e.allows, e.reason));
        }
    }
    c
}

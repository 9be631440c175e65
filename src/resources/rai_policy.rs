//! `Microsoft.CognitiveServices/accounts/raiPolicies` (C1): the strict content filter.
//!
//! Managed: `properties.mode`, `properties.basePolicyName`, `properties.contentFilters` (a set
//! keyed by (name, source), compared case-insensitively). A live filter the blueprint does not
//! list keeps its live settings (it is sent back as ARM returned it), unless the blueprint says
//! `removeUndeclaredFilters: true`; removing one that is on is a weakening. Ignored: `properties.type`
//! (read-only), `customBlocklists` and `safetyProviders` (carried over untouched), tags.
//! `Microsoft.Default` / `Microsoft.DefaultV2` are system-managed: the blueprint cannot name them.

use serde_json::{json, Value};

use super::kind::{short, Kind, Meta, Planned, Read, Reads, Ready, Stage};
use super::{enum_eq, fingerprint, get, get_str, writable_copy, OWNER_TAG, OWNER_VALUE};
use crate::arm::Method;
use crate::blueprint::resolved::{ContentFilter, ExceptionKind, Instance, RaiPolicy};
use crate::model::{Action, Change, FieldChange, Gate, KindId, Write};

pub const API_VERSION: &str = super::account::API_VERSION;

pub fn id(inst: &Instance, name: &str) -> String {
    format!("{}/raiPolicies/{name}", inst.account_id())
}

pub fn address(inst: &Instance, name: &str) -> String {
    format!("{}/rai-policy/{name}", inst.name)
}

fn filter_json(f: &ContentFilter) -> Value {
    let mut v = json!({
        "name": f.name,
        "source": f.source,
        "enabled": f.enabled,
        "blocking": f.blocking,
    });
    if let Some(s) = &f.severity_threshold {
        v["severityThreshold"] = s.clone().into();
    }
    v
}

fn key(name: &str, source: &str) -> (String, String) {
    (
        name.replace([' ', '_'], "").to_ascii_lowercase(),
        source.to_ascii_lowercase(),
    )
}

fn severity_rank(s: Option<&str>) -> u8 {
    match s.map(str::to_ascii_lowercase).as_deref() {
        Some("low") => 1,
        Some("medium") => 2,
        Some("high") => 3,
        _ => 0,
    }
}

/// Compare one declared filter with the live one of the same (name, source).
fn filter_same(want: &ContentFilter, live: &Value) -> bool {
    let b = |k: &str| live.get(k).and_then(Value::as_bool);
    let live_sev = live.get("severityThreshold").and_then(Value::as_str);
    b("enabled") == Some(want.enabled)
        && b("blocking") == Some(want.blocking)
        && match &want.severity_threshold {
            Some(s) => live_sev.is_some_and(|l| enum_eq(l, s)),
            None => true,
        }
}

/// Whether the desired filter is looser than the live one (a weakening).
fn loosens(want: &ContentFilter, live: &Value) -> bool {
    let b = |k: &str| live.get(k).and_then(Value::as_bool).unwrap_or(false);
    (b("enabled") && !want.enabled)
        || (b("blocking") && !want.blocking)
        || severity_rank(want.severity_threshold.as_deref())
            > severity_rank(live.get("severityThreshold").and_then(Value::as_str)).max(1)
}

/// Filters in one key order, sorted by (name, source), so a diff shows only what changed.
fn for_display(filters: &[Value]) -> Value {
    let mut out: Vec<Value> = filters
        .iter()
        .map(|f| {
            let mut v = serde_json::Map::new();
            for k in ["name", "source", "enabled", "blocking", "severityThreshold"] {
                if let Some(x) = f.get(k) {
                    v.insert(k.into(), x.clone());
                }
            }
            for (k, x) in f.as_object().into_iter().flatten() {
                v.entry(k.clone()).or_insert_with(|| x.clone());
            }
            Value::Object(v)
        })
        .collect();
    out.sort_by_key(|f| {
        key(
            f.get("name").and_then(Value::as_str).unwrap_or(""),
            f.get("source").and_then(Value::as_str).unwrap_or(""),
        )
    });
    Value::Array(out)
}

pub fn plan(inst: &Instance, observed: Option<&Value>) -> Option<Change> {
    let ctl = inst.controls.rai_policy.as_ref()?;
    let want: &RaiPolicy = &ctl.spec;
    let id = id(inst, &want.name);
    let fp = fingerprint(observed);
    let mut desired_filters: Vec<Value> = want.content_filters.iter().map(filter_json).collect();
    let mut fields = Vec::new();
    let mut risks = Vec::new();
    let exists = observed.is_some();
    if let Some(obs) = observed {
        let live_mode = get_str(obs, "properties.mode").unwrap_or("Default");
        if !enum_eq(live_mode, &want.mode) {
            let streams = |m: &str| enum_eq(m, "Deferred") || enum_eq(m, "Asynchronous_filter");
            if streams(&want.mode) && !streams(live_mode) {
                risks.push(format!(
                    "lets content stream before it is filtered (policy mode {})",
                    want.mode
                ));
            }
            fields.push(FieldChange {
                path: "properties.mode".into(),
                before: Some(live_mode.into()),
                after: Some(want.mode.clone().into()),
            });
        }
        let live_base = get_str(obs, "properties.basePolicyName").unwrap_or("");
        if !live_base.eq_ignore_ascii_case(&want.base_policy_name) {
            fields.push(FieldChange {
                path: "properties.basePolicyName".into(),
                before: Some(live_base.into()),
                after: Some(want.base_policy_name.clone().into()),
            });
        }
        let live_filters: Vec<Value> = get(obs, "properties.contentFilters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let find = |f: &ContentFilter| {
            live_filters.iter().find(|l| {
                key(
                    l.get("name").and_then(Value::as_str).unwrap_or(""),
                    l.get("source").and_then(Value::as_str).unwrap_or(""),
                ) == key(&f.name, &f.source)
            })
        };
        // Live filters the blueprint does not list keep their live settings, unless it says
        // to remove them; removing one that is on is a weakening.
        let undeclared: Vec<&Value> = live_filters
            .iter()
            .filter(|l| {
                let k = key(
                    l.get("name").and_then(Value::as_str).unwrap_or(""),
                    l.get("source").and_then(Value::as_str).unwrap_or(""),
                );
                !want
                    .content_filters
                    .iter()
                    .any(|f| key(&f.name, &f.source) == k)
            })
            .collect();
        let mut filters_differ = false;
        if want.remove_undeclared_filters {
            filters_differ = !undeclared.is_empty();
            for l in &undeclared {
                let on = |k: &str| l.get(k).and_then(Value::as_bool).unwrap_or(false);
                if on("enabled") {
                    risks.push(format!(
                        "removes the {} filter on {}",
                        l.get("name").and_then(Value::as_str).unwrap_or("?"),
                        l.get("source").and_then(Value::as_str).unwrap_or("?")
                    ));
                }
            }
        } else {
            desired_filters.extend(undeclared.into_iter().cloned());
        }
        for f in &want.content_filters {
            match find(f) {
                Some(l) if filter_same(f, l) => {}
                Some(l) => {
                    filters_differ = true;
                    if loosens(f, l) {
                        risks.push(format!("loosens the {} filter on {}", f.name, f.source));
                    }
                }
                None => filters_differ = true,
            }
        }
        if filters_differ {
            fields.push(FieldChange {
                path: "properties.contentFilters".into(),
                before: Some(for_display(&live_filters)),
                after: Some(for_display(&desired_filters)),
            });
        }
    }
    let action = super::outcome(ctl.mode, exists, !fields.is_empty());
    let reason = "strict content filter for every deployment (C1)";
    let mut c =
        Change::new(address(inst, &want.name), KIND, &id, action, reason, fp).with_fields(fields);
    if matches!(action, Action::Create | Action::Update) {
        let mut body = match observed {
            Some(obs) => writable_copy(obs, &["properties.type"]),
            None => json!({"tags": {OWNER_TAG: OWNER_VALUE}}),
        };
        super::set(&mut body, "properties.mode", want.mode.clone().into());
        super::set(
            &mut body,
            "properties.basePolicyName",
            want.base_policy_name.clone().into(),
        );
        super::set(
            &mut body,
            "properties.contentFilters",
            Value::Array(desired_filters.clone()),
        );
        if action == Action::Create {
            c.fields = vec![FieldChange {
                path: "properties.contentFilters".into(),
                before: None,
                after: Some(Value::Array(desired_filters)),
            }];
        }
        let w = Write::new(Method::Put, &id, API_VERSION, Some(body));
        c.write = Some(match observed {
            Some(obs) => w.if_match(obs),
            None => w,
        });
        if !risks.is_empty() {
            let allowed = inst.has_exception(ExceptionKind::ContentFilter);
            if !allowed {
                return Some(Change::blocked(
                    c.address,
                    KIND,
                    id,
                    format!(
                        "refusing to weaken security: {}, and the blueprint has no `content-filter` exception",
                        risks.join("; ")
                    ),
                    c.observed,
                ));
            }
            c.risk = Some(format!("weakens security: {}", risks.join("; ")));
            c.exception = inst
                .exceptions
                .iter()
                .find(|e| e.allows == ExceptionKind::ContentFilter)
                .map(|e| format!("{}: {}", e.allows, e.reason));
        }
    }
    Some(c)
}

pub const KIND: KindId = KindId::new("rai-policy");

pub struct RaiPolicyKind;

static META: Meta = Meta {
    label: "rai-policy",
    arm_type: "Microsoft.CognitiveServices/accounts/raiPolicies",
    api_version: API_VERSION,
    shared: false,
    managed: &[
        "properties.mode",
        "properties.basePolicyName",
        "properties.contentFilters",
        "tags",
    ],
    read_only: &[],
    ignored: &[
        "properties.type",
        "properties.customBlocklists",
        "properties.safetyProviders",
    ],
    first_on_lock: false,
    weak: &[],
};

impl Kind for RaiPolicyKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        read(inst).into_iter().collect()
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let live = read(inst).and_then(|r| seen.value(&r));
        Planned::of(Stage::ContentPolicy, plan(inst, live))
    }

    /// Deployments wait for a policy being written to exist.
    fn gate(&self, _inst: &Instance, stage: Stage, changes: &[&Change]) -> Option<Gate> {
        changes
            .iter()
            .find(|c| stage == Stage::ContentPolicy && c.kind == KIND && c.action.is_write())
            .map(|c| exists_gate(&c.id))
    }

    fn lock(&self, change: &Change) -> Option<String> {
        super::account::lock_of(&change.id)
    }

    fn resend(&self, change: &Change) -> Option<crate::model::Resend> {
        super::account::resend_when_busy(&change.id)
    }

    /// The policy exists (deployments may name it).
    fn ready(&self, ids: &[String], seen: &Reads) -> Ready {
        for id in ids {
            match Ready::read(seen, Read::get(id.clone(), API_VERSION)) {
                Ok(Some(_)) => {}
                Ok(None) => return Ready::Wait(format!("{id} does not exist yet")),
                Err(need) => return need,
            }
        }
        Ready::Yes
    }

    fn describe_gate(&self, ids: &[String]) -> String {
        format!(
            "{} to exist",
            short(ids.first().map(String::as_str).unwrap_or(""))
        )
    }
}

/// Deployments wait for the policy they name to exist.
pub fn exists_gate(policy_id: &str) -> Gate {
    Gate {
        kind: KIND,
        ids: vec![policy_id.to_string()],
    }
}

pub fn read(inst: &Instance) -> Option<Read> {
    inst.controls
        .rai_policy
        .as_ref()
        .map(|p| Read::get(id(inst, &p.spec.name), API_VERSION))
}

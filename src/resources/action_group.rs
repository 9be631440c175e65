//! `Microsoft.Insights/actionGroups` (M2): the action group the alert rules notify, named by
//! `controls.alerts.actionGroup` and created in the instance's resource group. Instances that
//! name the same group share it (the planner emits its change once).
//!
//! Synchronous PUT, api-version 2023-01-01 (REST spec `getActionGroup.json`); `location` is
//! always `Global`. Managed: the short name (Azure refuses more than 12 characters), `enabled`
//! and the e-mail receivers (by address, case-insensitively, with the common alert schema).
//! The server adds a `status` to each receiver and lower-cases `microsoft.insights` in the id;
//! neither is compared. Receivers of other types are another tool's business: a PUT carries the
//! live ones over unchanged. An action group named by `actionGroupId` is never read or written
//! (the loader refuses `actionGroup` and `actionGroupId` together).
//!
//! If-Match: an update carries the etag moat observed, a create `If-None-Match: *`. The group is
//! shared, so its one change is planned by the first instance naming it and written once; the
//! etag makes a hand edit between plan and apply (someone adding a receiver in the portal) fail
//! that one write with 412 instead of being overwritten, and the next plan shows it. A 412 fails
//! only the group's write: the alert rules that wait for it are skipped, hardening is not.

use serde_json::{json, Value};

use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Stage};
use super::{fingerprint, get, get_str, OWNER_TAG, OWNER_VALUE};
use crate::arm::Method;
use crate::blueprint::resolved::Instance;
use crate::model::{Change, FieldChange, KindId, Write};

pub const API_VERSION: &str = "2023-01-01";
pub const KIND: KindId = KindId::new("action-group");
/// The control's key in `controls:`.
pub const CONTROL: &str = "alerts";

pub struct ActionGroupKind;

/// Receiver lists moat leaves as they are (carried over by a PUT built from the live body).
const OTHER_RECEIVERS: &[&str] = &[
    "smsReceivers",
    "webhookReceivers",
    "itsmReceivers",
    "azureAppPushReceivers",
    "automationRunbookReceivers",
    "voiceReceivers",
    "logicAppReceivers",
    "azureFunctionReceivers",
    "armRoleReceivers",
    "eventHubReceivers",
];

static META: Meta = Meta {
    label: "action-group",
    arm_type: "Microsoft.Insights/actionGroups",
    api_version: API_VERSION,
    shared: true,
    managed: &[
        "location",
        "properties.groupShortName",
        "properties.enabled",
        "properties.emailReceivers[].name",
        "properties.emailReceivers[].emailAddress",
        "properties.emailReceivers[].useCommonAlertSchema",
        "properties.webhookReceivers[].name",
        "properties.webhookReceivers[].serviceUri",
        "properties.webhookReceivers[].useCommonAlertSchema",
    ],
    read_only: &["properties.emailReceivers[].status"],
    ignored: &[
        "tags",
        "properties.smsReceivers",
        // Entra-authenticated webhooks are set up outside moat; carried over as they are.
        "properties.webhookReceivers[].useAadAuth",
        "properties.webhookReceivers[].objectId",
        "properties.webhookReceivers[].identifierUri",
        "properties.webhookReceivers[].tenantId",
        "properties.itsmReceivers",
        "properties.azureAppPushReceivers",
        "properties.automationRunbookReceivers",
        "properties.voiceReceivers",
        "properties.logicAppReceivers",
        "properties.azureFunctionReceivers",
        "properties.armRoleReceivers",
        "properties.eventHubReceivers",
    ],
    first_on_lock: false,
    weak: &[],
};

/// The group moat keeps for `inst`: `controls.alerts.actionGroup` (never given together with
/// `actionGroupId`, which names an existing one; the check stays for a hand-built model).
fn spec(inst: &Instance) -> Option<&Value> {
    let ctl = inst.controls.generic(CONTROL)?;
    if ctl.text("actionGroupId").is_some() {
        return None;
    }
    ctl.spec.get("actionGroup").filter(|g| g.is_object())
}

/// The id of the group moat keeps for `inst`, if any.
pub fn id(inst: &Instance) -> Option<String> {
    let name = get_str(spec(inst)?, "name")?;
    Some(format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Insights/actionGroups/{name}",
        inst.subscription, inst.resource_group
    ))
}

/// The action group the alerts of `inst` notify: the existing `actionGroupId`, else moat's.
pub fn target(inst: &Instance) -> Option<String> {
    let ctl = inst.controls.generic(CONTROL)?;
    ctl.text("actionGroupId")
        .map(str::to_string)
        .or_else(|| id(inst))
}

fn read(inst: &Instance) -> Option<Read> {
    id(inst).map(|id| Read::get(id, API_VERSION))
}

fn emails(spec: &Value) -> Vec<String> {
    super::str_list(get(spec, "emails"))
}

/// The declared webhooks, in order, without repeats.
fn webhooks(spec: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in super::str_list(get(spec, "webhooks")) {
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// A webhook as plans show it: the host and a fingerprint of the URL, never its path (webhook
/// paths often carry a token).
pub fn shown_webhook(url: &str) -> String {
    use sha2::{Digest, Sha256};
    let host = url
        .strip_prefix("https://")
        .and_then(|r| r.split('/').next())
        .unwrap_or("?");
    let digest = hex::encode(Sha256::digest(url.as_bytes()));
    format!(
        "https://{}/… (sha256:{})",
        crate::sanitize::clean(host),
        &digest[..12]
    )
}

/// The declared webhooks a live group already calls with the common alert schema.
fn live_webhooks(live: &Value, declared: &[String]) -> Vec<String> {
    let calls = |w: &String| {
        get(live, "properties.webhookReceivers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|r| {
                get_str(r, "serviceUri") == Some(w.as_str())
                    && r["useCommonAlertSchema"].as_bool() == Some(true)
            })
    };
    declared.iter().filter(|w| calls(w)).cloned().collect()
}

/// The e-mail addresses of a live group that use the common alert schema, lower-cased, sorted.
fn live_emails(live: &Value) -> Vec<String> {
    let mut out: Vec<String> = get(live, "properties.emailReceivers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r["useCommonAlertSchema"].as_bool() == Some(true))
        .filter_map(|r| get_str(r, "emailAddress"))
        .map(str::to_ascii_lowercase)
        .collect();
    out.sort();
    out
}

impl Kind for ActionGroupKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        read(inst).into_iter().collect()
    }

    fn uses(&self, inst: &Instance) -> Vec<String> {
        id(inst).into_iter().collect()
    }

    /// The group moat created (its owner tag), unless an instance the destroy keeps names it;
    /// a group someone else made is kept, with a note.
    fn destroy(&self, inst: &Instance, seen: &Reads, in_use: &InUse) -> Planned {
        let (Some(ctl), Some(r)) = (inst.controls.generic(CONTROL), read(inst)) else {
            return Planned::default();
        };
        let Some(live) = seen.value(&r) else {
            return Planned::default();
        };
        let name = super::last_segment(&r.path).to_string();
        let keep = if ctl.mode != crate::blueprint::resolved::Mode::Managed {
            Some("the alerts control is verify-only")
        } else if !super::owned_by_tag(live) {
            Some("moat did not create it (no owner tag)")
        } else if in_use.contains(&super::norm_id(&r.path)) {
            Some("another instance of the blueprint uses it")
        } else {
            None
        };
        if let Some(why) = keep {
            return Planned {
                notes: vec![format!("the action group {name} is kept: {why}")],
                ..Planned::default()
            };
        }
        Planned::of(
            Stage::AlertActions,
            [super::delete_change(
                format!("{}/action-group/{name}", inst.name),
                KIND,
                &r.path,
                API_VERSION,
                "the action group moat created for the alert rules",
                "nobody is notified by alert rules that still name it",
                live,
            )],
        )
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let (Some(ctl), Some(spec), Some(r)) =
            (inst.controls.generic(CONTROL), spec(inst), read(inst))
        else {
            return Planned::default();
        };
        Planned::of(
            Stage::AlertActions,
            [plan(inst, ctl.mode, spec, &r.path, seen.value(&r))],
        )
    }
}

fn plan(
    inst: &Instance,
    mode: crate::blueprint::resolved::Mode,
    spec: &Value,
    id: &str,
    live: Option<&Value>,
) -> Change {
    let short = get_str(spec, "shortName").unwrap_or_default();
    let want_emails = emails(spec);
    let mut want_sorted: Vec<String> = want_emails.iter().map(|e| e.to_ascii_lowercase()).collect();
    want_sorted.sort();
    want_sorted.dedup();
    let mut fields = Vec::new();
    let live_short = live.and_then(|l| get_str(l, "properties.groupShortName"));
    if live_short != Some(short) {
        fields.push(FieldChange {
            path: "properties.groupShortName".into(),
            before: live_short.map(Value::from),
            after: Some(short.into()),
        });
    }
    let live_enabled = live.and_then(|l| get(l, "properties.enabled")?.as_bool());
    if live_enabled != Some(true) {
        fields.push(FieldChange {
            path: "properties.enabled".into(),
            before: live_enabled.map(Value::from),
            after: Some(true.into()),
        });
    }
    let have = live.map(live_emails);
    if have.as_ref() != Some(&want_sorted) {
        fields.push(FieldChange {
            path: "properties.emailReceivers".into(),
            before: have.map(|h| json!(h)),
            after: Some(json!(want_sorted)),
        });
    }
    let hooks = webhooks(spec);
    let have_hooks = live.map(|l| live_webhooks(l, &hooks)).unwrap_or_default();
    if have_hooks.len() != hooks.len() {
        let shown =
            |list: &[String]| json!(list.iter().map(|w| shown_webhook(w)).collect::<Vec<_>>());
        fields.push(FieldChange {
            path: "properties.webhookReceivers".into(),
            before: live.map(|_| shown(&have_hooks)),
            after: Some(shown(&hooks)),
        });
    }
    let action = super::outcome(mode, live.is_some(), !fields.is_empty());
    let name = super::last_segment(id);
    let mut c = Change::new(
        format!("{}/action-group/{name}", inst.name),
        KIND,
        id,
        action,
        "the action group the account's alert rules notify (M2)",
        fingerprint(live),
    );
    c.fields = fields;
    if action.is_write() {
        let receivers: Vec<Value> = want_emails
            .iter()
            .map(|e| json!({"name": e, "emailAddress": e, "useCommonAlertSchema": true}))
            .collect();
        let mut body = body(live, short, receivers);
        add_webhooks(&mut body, &hooks);
        let mut w = Write::new(Method::Put, id, API_VERSION, Some(body));
        match live {
            Some(l) => w = w.if_match(l),
            None => w.if_none_match = true,
        }
        c.write = Some(w);
    }
    c
}

/// The declared webhooks in a PUT body: any live receiver of the same URL replaced by moat's
/// (common alert schema on), the other webhook receivers kept.
fn add_webhooks(body: &mut Value, hooks: &[String]) {
    if hooks.is_empty() {
        return;
    }
    let mut receivers: Vec<Value> = body["properties"]["webhookReceivers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| !get_str(r, "serviceUri").is_some_and(|u| hooks.iter().any(|h| h == u)))
        .collect();
    for h in hooks {
        let digest = shown_webhook(h);
        let tag = digest
            .rsplit("sha256:")
            .next()
            .unwrap_or_default()
            .trim_end_matches(')');
        receivers.push(json!({"name": format!("moat-webhook-{tag}"), "serviceUri": h, "useCommonAlertSchema": true}));
    }
    body["properties"]["webhookReceivers"] = Value::Array(receivers);
}

/// The PUT body: the live group's tags and other receivers carried over (without the server's
/// per-receiver `status`), moat's fields set.
fn body(live: Option<&Value>, short: &str, emails: Vec<Value>) -> Value {
    let mut props = serde_json::Map::new();
    for key in OTHER_RECEIVERS {
        if let Some(Value::Array(items)) = live.and_then(|l| get(l, &format!("properties.{key}"))) {
            let items: Vec<Value> = items
                .iter()
                .cloned()
                .map(|mut r| {
                    if let Some(o) = r.as_object_mut() {
                        o.remove("status");
                    }
                    r
                })
                .collect();
            props.insert((*key).into(), Value::Array(items));
        }
    }
    props.insert("groupShortName".into(), short.into());
    props.insert("enabled".into(), true.into());
    props.insert("emailReceivers".into(), Value::Array(emails));
    let tags = live
        .and_then(|l| l.get("tags"))
        .filter(|t| t.is_object())
        .cloned()
        .unwrap_or_else(|| json!({OWNER_TAG: OWNER_VALUE}));
    json!({"location": "Global", "tags": tags, "properties": props})
}

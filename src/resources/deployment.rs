//! `Microsoft.CognitiveServices/accounts/deployments` (C2, and creation for issue 10).
//!
//! Managed: `properties.raiPolicyName` (every deployment, when the blueprint binds all); for
//! declared deployments also `sku.name` / `sku.capacity` and `properties.versionUpgradeOption`.
//! Changing `raiPolicyName` needs a full PUT (PATCH only takes tags and sku), so the body is the
//! raw observed JSON minus read-only fields: settings moat does not manage (serviceTier,
//! deploymentState, capacity settings, ...) are sent back as ARM returned them.
//! Ignored: `model.version` when the blueprint omits it (the server fills the default),
//! `currentCapacity`, rate limits, capabilities.

use serde_json::{json, Value};

use super::kind::{Kind, Meta, Planned, Read, Reads, Stage};
use super::{
    enum_eq, fingerprint, get, get_str, last_segment, writable_copy, OWNER_TAG, OWNER_VALUE,
};
use crate::arm::Method;
use crate::blueprint::resolved::{Deployment, Instance};
use crate::model::{Action, Change, FieldChange, KindId, Write};

pub const API_VERSION: &str = super::account::API_VERSION;

pub fn id(inst: &Instance, name: &str) -> String {
    format!("{}/deployments/{name}", inst.account_id())
}

pub fn address(inst: &Instance, name: &str) -> String {
    format!("{}/deployment/{name}", inst.name)
}

fn create_body(d: &Deployment, rai: Option<&str>) -> Value {
    let mut model = json!({"format": d.model_format, "name": d.model_name});
    if let Some(v) = &d.model_version {
        model["version"] = v.clone().into();
    }
    let mut body = json!({
        "sku": {"name": d.sku_name, "capacity": d.capacity},
        "tags": {OWNER_TAG: OWNER_VALUE},
        "properties": {"model": model},
    });
    if let Some(r) = rai {
        body["properties"]["raiPolicyName"] = r.into();
    }
    if let Some(v) = &d.version_upgrade_option {
        body["properties"]["versionUpgradeOption"] = v.clone().into();
    }
    body
}

/// Changes for every deployment: declared ones (created when missing) and, when the blueprint
/// binds all, every existing one. Returned in name order.
pub fn plan(inst: &Instance, observed: &[Value]) -> Vec<Change> {
    let Some(ctl) = &inst.controls.deployments else {
        return Vec::new();
    };
    let rai = inst
        .controls
        .rai_policy
        .as_ref()
        .map(|r| r.spec.name.as_str());
    let mut out = Vec::new();
    let find = |name: &str| {
        observed
            .iter()
            .find(|d| get_str(d, "name").is_some_and(|n| n.eq_ignore_ascii_case(name)))
    };
    // Declared deployments.
    for d in &ctl.spec.declared {
        let id = id(inst, &d.name);
        match find(&d.name) {
            None => {
                let body = create_body(d, rai);
                let c = Change::new(
                    address(inst, &d.name),
                    KIND,
                    &id,
                    super::outcome(ctl.mode, false, true),
                    "declared model deployment, created already bound to the content filter (C2)",
                    "absent".into(),
                )
                .with_fields(vec![FieldChange {
                    path: "properties".into(),
                    before: None,
                    after: body.get("properties").cloned(),
                }]);
                out.push(if c.action == Action::Create {
                    c.with_write(Write::new(Method::Put, &id, API_VERSION, Some(body)))
                } else {
                    c
                });
            }
            Some(live) => out.push(update(inst, ctl.mode, live, Some(d), rai)),
        }
    }
    // Existing deployments the blueprint does not list: re-bound when it binds all.
    if ctl.spec.bind_all_to_rai_policy {
        let mut rest: Vec<&Value> = observed
            .iter()
            .filter(|o| {
                let n = get_str(o, "name").unwrap_or("");
                !ctl.spec
                    .declared
                    .iter()
                    .any(|d| d.name.eq_ignore_ascii_case(n))
            })
            .collect();
        rest.sort_by_key(|o| get_str(o, "name").unwrap_or("").to_ascii_lowercase());
        for live in rest {
            out.push(update(inst, ctl.mode, live, None, rai));
        }
    }
    out.sort_by(|a, b| a.address.cmp(&b.address));
    out
}

fn update(
    inst: &Instance,
    mode: crate::blueprint::resolved::Mode,
    live: &Value,
    declared: Option<&Deployment>,
    rai: Option<&str>,
) -> Change {
    let name = get_str(live, "name")
        .map(str::to_string)
        .unwrap_or_else(|| last_segment(get_str(live, "id").unwrap_or("")).to_string());
    let id = id(inst, &name);
    let mut fields = Vec::new();
    let mut body = writable_copy(live, META.read_only);
    if let Some(r) = rai {
        let live_rai = get_str(live, "properties.raiPolicyName");
        if !live_rai.is_some_and(|l| l.eq_ignore_ascii_case(r)) {
            fields.push(FieldChange {
                path: "properties.raiPolicyName".into(),
                before: live_rai.map(Value::from),
                after: Some(r.into()),
            });
            super::set(&mut body, "properties.raiPolicyName", r.into());
        }
    }
    if let Some(d) = declared {
        let live_sku = get_str(live, "sku.name").unwrap_or("");
        let live_cap = get(live, "sku.capacity").and_then(Value::as_u64);
        if !enum_eq(live_sku, &d.sku_name) || live_cap != Some(u64::from(d.capacity)) {
            fields.push(FieldChange {
                path: "sku".into(),
                before: get(live, "sku").cloned(),
                after: Some(json!({"name": d.sku_name, "capacity": d.capacity})),
            });
            super::set(&mut body, "sku.name", d.sku_name.clone().into());
            super::set(&mut body, "sku.capacity", d.capacity.into());
        }
        if let Some(v) = &d.version_upgrade_option {
            let l = get_str(live, "properties.versionUpgradeOption");
            if !l.is_some_and(|l| enum_eq(l, v)) {
                fields.push(FieldChange {
                    path: "properties.versionUpgradeOption".into(),
                    before: l.map(Value::from),
                    after: Some(v.clone().into()),
                });
                super::set(
                    &mut body,
                    "properties.versionUpgradeOption",
                    v.clone().into(),
                );
            }
        }
    }
    let action = super::outcome(mode, true, !fields.is_empty());
    let rebinds = fields.iter().any(|f| f.path == "properties.raiPolicyName");
    let mut c = Change::new(
        address(inst, &name),
        KIND,
        &id,
        action,
        "every model deployment bound to the strict content filter (C2)",
        fingerprint(Some(live)),
    )
    .with_fields(fields);
    if action == Action::Update {
        c.write = Some(Write::new(Method::Put, &id, API_VERSION, Some(body)).if_match(live));
        if rebinds {
            c.risk = Some(
                "requests through this deployment are filtered by the stricter policy: content that passed before may now be blocked"
                    .into(),
            );
        }
    }
    c
}

pub const KIND: KindId = KindId::new("deployment");

pub struct DeploymentKind;

static META: Meta = Meta {
    label: "deployment",
    arm_type: "Microsoft.CognitiveServices/accounts/deployments",
    api_version: API_VERSION,
    shared: false,
    managed: &[
        "properties.raiPolicyName",
        "sku.name",
        "sku.capacity",
        "properties.versionUpgradeOption",
        "properties.model.format",
        "properties.model.name",
        "properties.model.version",
        "tags",
    ],
    read_only: &[
        "properties.provisioningState",
        "properties.capabilities",
        "properties.callRateLimit",
        "properties.rateLimits",
        "properties.dynamicThrottlingEnabled",
        "properties.model.callRateLimit",
        "properties.scaleSettings.activeCapacity",
    ],
    // The settings a full PUT sends back as ARM returned them (see the file header).
    ignored: &["properties.deploymentState", "properties.serviceTier"],
    first_on_lock: false,
    // Bound to Microsoft's default filter (or none) instead of the declared strict one.
    weak: &[
        ("properties.raiPolicyName", "\"Microsoft.Default\""),
        ("properties.raiPolicyName", "\"Microsoft.DefaultV2\""),
        ("properties.raiPolicyName", "(absent)"),
    ],
};

impl Kind for DeploymentKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        read(inst).into_iter().collect()
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        match read(inst) {
            Some(r) => Planned::of(Stage::Models, plan(inst, seen.items(&r))),
            None => Planned::default(),
        }
    }

    fn lock(&self, change: &Change) -> Option<String> {
        super::account::lock_of(&change.id)
    }

    fn resend(&self, change: &Change) -> Option<crate::model::Resend> {
        super::account::resend_when_busy(&change.id)
    }
}

/// Every deployment of the account.
pub fn read(inst: &Instance) -> Option<Read> {
    inst.controls
        .deployments
        .as_ref()
        .map(|_| Read::list(format!("{}/deployments", inst.account_id()), API_VERSION))
}

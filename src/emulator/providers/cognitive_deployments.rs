//! Microsoft.CognitiveServices account deployments and RAI (content filter) policies, with the
//! system-managed policies every account has.

use serde_json::{json, Value};

use super::cognitive::{bad, API_VERSIONS, COGNITIVE};
use crate::emulator::config::LroStyle;
use crate::emulator::cx::Cx;
use crate::emulator::engine::{self, list_reply};
use crate::emulator::error::{ApiError, HResult, Reply};
use crate::emulator::ids::ResId;
use crate::emulator::provider::{Info, Provider, Request, Write};
use crate::emulator::routes::{collection, list_start};
use crate::emulator::spec::{Lock, Spec, TypeDef};
use crate::emulator::store::{default_prop, merge_patch, prop_str, props};

const DEPLOYMENT_TYPE: &str = "Microsoft.CognitiveServices/accounts/deployments";
const RAI_TYPE: &str = "Microsoft.CognitiveServices/accounts/raiPolicies";

/// System-managed content filter policies every account has.
const SYSTEM_RAI_POLICIES: &[&str] = &["Microsoft.Default", "Microsoft.DefaultV2"];

const TYPES: &[TypeDef] = &[
    TypeDef {
        name: DEPLOYMENT_TYPE,
        spec: Spec {
            put: LroStyle::AsyncBody,
            patch: Some(LroStyle::Accepted),
            delete: LroStyle::Accepted,
            has_state: true,
            creating: "Accepted",
            updating: "Accepted",
            ..COGNITIVE
        },
        lock: Some(Lock::RequestConflict),
        seed_rank: 8,
        known: Some(&super::shapes::DEPLOYMENT),
        ..TypeDef::BASE
    },
    TypeDef {
        name: RAI_TYPE,
        spec: Spec {
            delete: LroStyle::Accepted,
            ..COGNITIVE
        },
        lock: Some(Lock::RequestConflict),
        seed_rank: 7,
        known: Some(&super::shapes::RAI_POLICY),
        ..TypeDef::BASE
    },
];

const INFO: Info = Info {
    namespace: "Microsoft.CognitiveServices",
    api_versions: API_VERSIONS,
    types: TYPES,
};

pub struct Deployments;

impl Provider for Deployments {
    fn info(&self) -> &'static Info {
        &INFO
    }

    /// The system policies: readable on every account, first in every list.
    fn serve(&self, cx: &mut Cx, req: &Request) -> Option<HResult> {
        let id = req
            .id()
            .filter(|id| id.is(RAI_TYPE) && req.method == "GET")?;
        if !id.is_instance() {
            return Some(list_rai_policies(cx, req, id));
        }
        let sys = SYSTEM_RAI_POLICIES
            .iter()
            .find(|p| p.eq_ignore_ascii_case(id.name()))?;
        Some(
            engine::check_scope(cx, id)
                .map(|_| Reply::json(200, system_rai_policy(&account_display(cx, id), sys))),
        )
    }

    fn prepare(&self, cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let Write { id, body, existing } = w;
        if id.is(DEPLOYMENT_TYPE) {
            prepare_deployment(cx, id, body, existing)
        } else {
            prepare_rai_policy(cx, id, body)
        }
    }

    /// PatchResourceTagsAndSku (RAI policies have no PATCH).
    fn patch_body(&self, _cx: &Cx, existing: &Value, patch: &Value) -> Result<Value, ApiError> {
        let mut out = existing.clone();
        if let Some(t) = patch.get("tags") {
            out["tags"] = t.clone();
        }
        if let Some(s) = patch.get("sku") {
            merge_patch(&mut out["sku"], s);
        }
        Ok(out)
    }
}

/// The stored id of the account a policy (or policy list) belongs to.
fn account_display(cx: &Cx, id: &ResId) -> String {
    let acct = id.parent().expect("rai policies have a parent");
    cx.st
        .get(&acct.key())
        .and_then(|a| a["id"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn list_rai_policies(cx: &Cx, req: &Request, id: &ResId) -> HResult {
    let skip = list_start(cx, id, req.query)?;
    let mut items = collection(cx, id)?;
    let display = account_display(cx, id);
    for p in SYSTEM_RAI_POLICIES {
        items.insert(0, system_rai_policy(&display, p));
    }
    Ok(list_reply(cx, req.path, req.query, items, skip, true))
}

fn prepare_deployment(
    cx: &mut Cx,
    id: &ResId,
    mut body: Value,
    _existing: Option<&Value>,
) -> Result<Value, ApiError> {
    let model = body
        .pointer("/properties/model")
        .cloned()
        .unwrap_or(Value::Null);
    let Some(name) = model
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(bad("properties.model.name is required."));
    };
    if model.get("format").and_then(Value::as_str).is_none() {
        return Err(bad("properties.model.format is required."));
    }
    if model.get("version").and_then(Value::as_str).is_none() {
        let v = match name.as_str() {
            "gpt-4o" => "2024-11-20",
            "gpt-4o-mini" => "2024-07-18",
            "text-embedding-3-large" | "text-embedding-3-small" => "1",
            _ => "1",
        };
        body["properties"]["model"]["version"] = json!(v);
    }
    if body.pointer("/sku/name").and_then(Value::as_str).is_none() {
        body["sku"] = json!({ "name": "Standard", "capacity": 1 });
    }
    if body.pointer("/sku/capacity").is_none() {
        body["sku"]["capacity"] = json!(1);
    }
    let capacity = body["sku"]["capacity"].clone();
    default_prop(&mut body, "raiPolicyName", json!("Microsoft.DefaultV2"));
    let rai = prop_str(&body, "raiPolicyName")
        .unwrap_or_default()
        .to_string();
    if !SYSTEM_RAI_POLICIES
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&rai))
    {
        let acct = id.parent().expect("deployments have a parent");
        if !cx.st.exists(&format!(
            "{}/raipolicies/{}",
            acct.key(),
            rai.to_ascii_lowercase()
        )) {
            return Err(ApiError::bad_request(
                "RaiPolicyNotFound",
                format!(
                    "The RAI policy '{rai}' does not exist on account '{}'.",
                    acct.name()
                ),
            ));
        }
    }
    default_prop(
        &mut body,
        "versionUpgradeOption",
        json!("OnceNewDefaultVersionAvailable"),
    );
    default_prop(&mut body, "deploymentState", json!("Running"));
    default_prop(&mut body, "serviceTier", json!("Default"));
    let p = props(&mut body);
    p.insert("currentCapacity".into(), capacity);
    p.entry("capabilities").or_insert(json!({}));
    p.entry("rateLimits").or_insert(json!([]));
    Ok(body)
}

fn prepare_rai_policy(_cx: &mut Cx, id: &ResId, mut body: Value) -> Result<Value, ApiError> {
    if SYSTEM_RAI_POLICIES
        .iter()
        .any(|p| p.eq_ignore_ascii_case(id.name()))
    {
        return Err(bad(format!(
            "'{}' is a system-managed policy and cannot be changed.",
            id.name()
        )));
    }
    let filters = body
        .pointer("/properties/contentFilters")
        .cloned()
        .unwrap_or(json!([]));
    for f in filters.as_array().into_iter().flatten() {
        if f.get("name").and_then(Value::as_str).is_none()
            || f.get("source").and_then(Value::as_str).is_none()
        {
            return Err(bad("Each content filter needs a name and a source."));
        }
        if let Some(t) = f.get("severityThreshold").and_then(Value::as_str) {
            if !["Low", "Medium", "High"].contains(&t) {
                return Err(bad(format!("Invalid severityThreshold '{t}'.")));
            }
        }
    }
    default_prop(&mut body, "contentFilters", json!([]));
    default_prop(&mut body, "mode", json!("Default"));
    default_prop(&mut body, "basePolicyName", json!("Microsoft.Default"));
    props(&mut body).insert("type".into(), json!("UserManaged"));
    Ok(body)
}

/// The built-in policies, readable on every account.
fn system_rai_policy(acct_display: &str, name: &str) -> Value {
    json!({
        "id": format!("{acct_display}/raiPolicies/{name}"),
        "name": name,
        "type": "Microsoft.CognitiveServices/accounts/raiPolicies",
        "properties": { "type": "SystemManaged", "mode": "Blocking", "contentFilters": [] }
    })
}

//! Dispatch from the generic engine to the per-family rules.

use serde_json::{json, Value};

use super::config::EmulatorConfig;
use super::engine::Cx;
use super::error::ApiError;
use super::ids::{parse_id, Kind, ResId};
use super::store::{merge_patch, State};
use super::{authorization, cognitive, endpoints, insights, network, privatedns, resources};

/// Validate a write and fill in server-side defaults. `body` has no server-owned envelope.
pub fn prepare(
    cx: &mut Cx,
    id: &ResId,
    body: Value,
    existing: Option<&Value>,
) -> Result<Value, ApiError> {
    match id.kind {
        Kind::Account => cognitive::prepare_account(cx, id, body, existing),
        Kind::Deployment => cognitive::prepare_deployment(cx, id, body, existing),
        Kind::RaiPolicy => cognitive::prepare_rai_policy(cx, id, body),
        Kind::PrivateEndpointConnection => cognitive::prepare_pec(cx, id, body, existing),
        Kind::VirtualNetwork => network::prepare_vnet(cx, id, body, existing),
        Kind::Subnet => network::prepare_subnet(cx, id, body),
        Kind::Nsg => network::prepare_nsg(cx, id, body, existing),
        Kind::SecurityRule => network::prepare_rule(cx, id, body),
        Kind::PrivateEndpoint => endpoints::prepare_pe(cx, id, body, existing),
        Kind::ZoneGroup => endpoints::prepare_zone_group(cx, id, body, existing),
        Kind::DnsZone => privatedns::prepare_zone(cx, id, body, existing),
        Kind::VnetLink => privatedns::prepare_link(cx, id, body),
        Kind::RecordSet => privatedns::prepare_record(cx, id, body),
        Kind::RoleAssignment => authorization::prepare(cx, id, body, existing),
        Kind::DiagnosticSetting => insights::prepare(cx, id, body),
        Kind::Workspace => resources::prepare_workspace(cx, id, body, existing),
        _ => Err(ApiError::bad_request(
            "NoRegisteredProviderFound",
            format!(
                "The emulator does not implement writes of resource type '{}'.",
                id.full_type
            ),
        )),
    }
}

/// Side effects of a stored final body.
pub fn after_commit(cx: &mut Cx, id: &ResId, body: &Value) {
    match id.kind {
        Kind::Account => cognitive::after_commit_account(cx, id),
        Kind::VirtualNetwork => network::after_commit_vnet(cx, body),
        Kind::Nsg => network::after_commit_nsg(cx, body),
        Kind::PrivateEndpoint => endpoints::after_commit_pe(cx, id, body),
        Kind::ZoneGroup => endpoints::after_commit_zone_group(cx, body),
        Kind::PrivateEndpointConnection => endpoints::after_commit_pec(cx, body),
        _ => {}
    }
}

/// Refuse deletes Azure refuses (resources in use).
pub fn before_delete(cx: &mut Cx, id: &ResId, body: &Value) -> Result<(), ApiError> {
    match id.kind {
        Kind::Subnet => network::before_delete_subnet(cx.st, body),
        Kind::VirtualNetwork => network::before_delete_vnet(cx.st, &id.key()),
        Kind::Nsg => network::before_delete_nsg(cx.st, body),
        Kind::DnsZone => privatedns::before_delete_zone(cx.st, &id.key()),
        _ => Ok(()),
    }
}

/// Side effects of a removed resource (`body` is what was stored).
pub fn after_delete(cx: &mut Cx, body: &Value) {
    let Some(id) = body["id"].as_str().and_then(parse_id) else {
        return;
    };
    match id.kind {
        Kind::Account => cognitive::soft_delete(cx, body),
        Kind::PrivateEndpoint => endpoints::after_delete_pe(cx, body),
        Kind::ZoneGroup => endpoints::after_delete_zone_group(cx, body),
        Kind::PrivateEndpointConnection => endpoints::pec_removed(cx, body),
        _ => {}
    }
}

/// The body as GET shows it: stored body plus derived parts (children inline, counters).
pub fn render(st: &State, cfg: &EmulatorConfig, key: &str) -> Value {
    let Some(mut body) = st.get(key).cloned() else {
        return Value::Null;
    };
    let kind = body["id"].as_str().and_then(parse_id).map(|i| i.kind);
    match kind {
        Some(Kind::Account) => cognitive::render_account(st, key, &mut body),
        Some(Kind::VirtualNetwork) => network::render_vnet(st, key, &mut body),
        Some(Kind::Subnet) => network::render_subnet(st, &mut body),
        Some(Kind::Nsg) => network::render_nsg(st, key, &mut body),
        Some(Kind::DnsZone) => privatedns::render_zone(st, key, &mut body),
        Some(Kind::DiagnosticSetting) => insights::render(&mut body, cfg.insights_lowercase_ids),
        _ => {}
    }
    body
}

/// The full body a PATCH asks for.
pub fn apply_patch(
    st: &State,
    cfg: &EmulatorConfig,
    kind: Kind,
    existing: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    let key = existing["id"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match kind {
        // UpdateTags: only tags change; inline children must survive the re-validation.
        Kind::VirtualNetwork | Kind::Nsg => {
            let mut out = render(st, cfg, &key);
            if let Some(t) = patch.get("tags") {
                out["tags"] = t.clone();
            }
            if let Some(p) = out.get_mut("properties").and_then(Value::as_object_mut) {
                p.remove("defaultSecurityRules");
            }
            Ok(out)
        }
        // PatchResourceTagsAndSku.
        Kind::Deployment => {
            let mut out = existing.clone();
            if let Some(t) = patch.get("tags") {
                out["tags"] = t.clone();
            }
            if let Some(s) = patch.get("sku") {
                merge_patch(&mut out["sku"], s);
            }
            Ok(out)
        }
        _ => {
            let mut out = existing.clone();
            merge_patch(&mut out, patch);
            // PATCH replaces the whole tag map (RPC).
            if let Some(t) = patch.get("tags") {
                out["tags"] = if t.is_null() { json!({}) } else { t.clone() };
            }
            Ok(out)
        }
    }
}

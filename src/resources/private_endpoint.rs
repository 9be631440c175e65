//! `Microsoft.Network/privateEndpoints` (N1): one endpoint for group `account`.
//!
//! Managed: existence, `properties.subnet.id`, the target service and group of its connection.
//! An existing endpoint that points elsewhere is not replaced (moat never deletes an endpoint
//! clients may depend on): the plan blocks. Ignored: `networkInterfaces`, `customDnsConfigs`
//! (server-owned), `ipConfigurations`, `applicationSecurityGroups`, tags.

use serde_json::{json, Value};

use super::{fingerprint, get, get_str, id_eq, OWNER_TAG, OWNER_VALUE};
use crate::arm::Method;
use crate::blueprint::resolved::Instance;
use crate::plan::model::{Action, Change, FieldChange, ResourceKind, Write};

pub const API_VERSION: &str = "2024-03-01";

pub fn id(spec: &crate::blueprint::resolved::PrivateEndpoint) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/privateEndpoints/{}",
        spec.subscription, spec.resource_group, spec.name
    )
}

pub fn address(inst: &Instance, name: &str) -> String {
    format!("{}/private-endpoint/{name}", inst.name)
}

/// The service connection (auto-approved or manual) of an endpoint.
pub fn connection(pe: &Value) -> Option<&Value> {
    [
        "privateLinkServiceConnections",
        "manualPrivateLinkServiceConnections",
    ]
    .iter()
    .filter_map(|k| get(pe, &format!("properties.{k}")).and_then(Value::as_array))
    .flatten()
    .next()
}

pub fn plan(inst: &Instance, observed: Option<&Value>) -> Option<Change> {
    let ctl = inst.controls.private_endpoint.as_ref()?;
    let spec = &ctl.spec;
    let id = id(spec);
    let account = inst.account_id();
    let addr = address(inst, &spec.name);
    let reason = "private endpoint for the account, group `account` (N1)";
    let body = json!({
        "location": spec.location,
        "tags": {OWNER_TAG: OWNER_VALUE},
        "properties": {
            "subnet": {"id": spec.subnet_id},
            "privateLinkServiceConnections": [{
                "name": format!("{}-account", spec.name),
                "properties": {"privateLinkServiceId": account, "groupIds": ["account"]}
            }]
        }
    });
    let Some(live) = observed else {
        let action = super::outcome(ctl.mode, false, true);
        let c = Change::new(
            addr,
            ResourceKind::PrivateEndpoint,
            &id,
            action,
            reason,
            "absent".into(),
        )
        .with_fields(vec![
            FieldChange {
                path: "properties.subnet.id".into(),
                before: None,
                after: Some(spec.subnet_id.clone().into()),
            },
            FieldChange {
                path: "privateLinkServiceId".into(),
                before: None,
                after: Some(account.into()),
            },
        ]);
        return Some(if action == Action::Create {
            c.with_write(Write::new(Method::Put, &id, API_VERSION, Some(body)))
        } else {
            c
        });
    };
    let fp = fingerprint(Some(live));
    let live_subnet = get_str(live, "properties.subnet.id").unwrap_or("");
    let conn = connection(live);
    let live_target = conn
        .and_then(|c| get_str(c, "properties.privateLinkServiceId"))
        .unwrap_or("");
    let live_groups: Vec<String> = conn
        .and_then(|c| get(c, "properties.groupIds"))
        .map(|g| super::str_list(Some(g)))
        .unwrap_or_default();
    let mut fields = Vec::new();
    if !id_eq(live_subnet, &spec.subnet_id) {
        fields.push(FieldChange {
            path: "properties.subnet.id".into(),
            before: Some(live_subnet.into()),
            after: Some(spec.subnet_id.clone().into()),
        });
    }
    if !id_eq(live_target, &account)
        || !live_groups
            .iter()
            .any(|g| g.eq_ignore_ascii_case("account"))
    {
        fields.push(FieldChange {
            path: "privateLinkServiceConnections".into(),
            before: Some(json!({"privateLinkServiceId": live_target, "groupIds": live_groups})),
            after: Some(json!({"privateLinkServiceId": account, "groupIds": ["account"]})),
        });
    }
    let live_state = get_str(live, "properties.provisioningState").unwrap_or("Succeeded");
    let broken = ["Failed", "Canceled"]
        .iter()
        .any(|s| live_state.eq_ignore_ascii_case(s));
    if fields.is_empty() && broken && ctl.mode != crate::blueprint::resolved::Mode::Verify {
        // An endpoint whose last operation failed never becomes Succeeded by itself: ARM's
        // repair is to PUT it again (same subnet and target, its tags kept).
        let body = json!({
            "location": live.get("location").cloned().unwrap_or_else(|| spec.location.clone().into()),
            "tags": live.get("tags").cloned().unwrap_or_else(|| json!({OWNER_TAG: OWNER_VALUE})),
            "properties": {
                "subnet": {"id": live_subnet},
                "privateLinkServiceConnections": [{
                    "name": conn.and_then(|c| get_str(c, "name")).map(str::to_string)
                        .unwrap_or_else(|| format!("{}-account", spec.name)),
                    "properties": {"privateLinkServiceId": live_target, "groupIds": ["account"]}
                }]
            }
        });
        return Some(
            Change::new(
                addr,
                ResourceKind::PrivateEndpoint,
                &id,
                Action::Update,
                format!("{reason}; its last operation ended {live_state}: sent again to repair it"),
                fp,
            )
            .with_fields(vec![FieldChange {
                path: "properties.provisioningState".into(),
                before: Some(live_state.into()),
                after: Some("Succeeded".into()),
            }])
            .with_write(Write::new(Method::Put, &id, API_VERSION, Some(body)).if_match(live)),
        );
    }
    if fields.is_empty() {
        let action = super::outcome(ctl.mode, true, false);
        return Some(Change::new(
            addr,
            ResourceKind::PrivateEndpoint,
            &id,
            action,
            reason,
            fp,
        ));
    }
    if ctl.mode == crate::blueprint::resolved::Mode::Verify {
        return Some(
            Change::new(
                addr,
                ResourceKind::PrivateEndpoint,
                &id,
                Action::Drift,
                reason,
                fp,
            )
            .with_fields(fields),
        );
    }
    Some(
        Change::blocked(
            addr,
            ResourceKind::PrivateEndpoint,
            id,
            "a private endpoint with this name exists but points at another subnet or service; an endpoint's subnet and target cannot be changed, and moat does not delete endpoints clients may use: rename the endpoint in the blueprint or remove the old one",
            fp,
        )
        .with_fields(fields),
    )
}

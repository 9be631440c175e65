//! `Microsoft.Network/privateDnsZones/virtualNetworkLinks` (N2): each zone linked to the VNets.
//!
//! A VNet can be linked to a zone only once, so an existing link to the same VNet under another
//! name is adopted rather than duplicated. Managed: `properties.virtualNetwork.id`,
//! `properties.registrationEnabled` (always false for privatelink zones). Ignored:
//! `virtualNetworkLinkState`, `resolutionPolicy`, tags.

use serde_json::{json, Value};

use super::{fingerprint, get_bool, get_str, id_eq, OWNER_TAG, OWNER_VALUE};
use crate::arm::Method;
use crate::blueprint::resolved::{Mode, PrivateDns};
use crate::plan::model::{Action, Change, FieldChange, ResourceKind, Write};

pub const API_VERSION: &str = super::private_dns_zone::API_VERSION;

pub fn id(spec: &PrivateDns, zone: &str, name: &str) -> String {
    format!(
        "{}/virtualNetworkLinks/{name}",
        super::private_dns_zone::id(spec, zone)
    )
}

pub fn address(instance: &str, zone: &str, vnet: &str) -> String {
    format!("{instance}/vnet-link/{zone}/{}", super::last_segment(vnet))
}

/// `links` = every link of the zone (so a link to the same VNet under another name is found).
pub fn plan(
    instance: &str,
    mode: Mode,
    spec: &PrivateDns,
    zone: &str,
    vnet_id: &str,
    links: &[Value],
) -> Change {
    let existing = links
        .iter()
        .find(|l| get_str(l, "properties.virtualNetwork.id").is_some_and(|v| id_eq(v, vnet_id)));
    let name = match existing {
        Some(l) => get_str(l, "name").unwrap_or(&spec.link_name).to_string(),
        None => spec
            .link_name
            .replace("{vnet}", super::last_segment(vnet_id)),
    };
    let id = id(spec, zone, &name);
    let addr = address(instance, zone, vnet_id);
    let reason = "link the zone to the VNet so clients there resolve the private IP (N2)";
    match existing {
        None => {
            let action = super::outcome(mode, false, true);
            let c = Change::new(
                addr,
                ResourceKind::VnetLink,
                &id,
                action,
                reason,
                "absent".into(),
            )
            .with_fields(vec![FieldChange {
                path: "properties.virtualNetwork.id".into(),
                before: None,
                after: Some(vnet_id.into()),
            }]);
            if action == Action::Create {
                let mut w = Write::new(
                    Method::Put,
                    &id,
                    API_VERSION,
                    Some(json!({
                        "location": "global",
                        "tags": {OWNER_TAG: OWNER_VALUE},
                        "properties": {"virtualNetwork": {"id": vnet_id}, "registrationEnabled": false}
                    })),
                );
                w.if_none_match = true;
                c.with_write(w)
            } else {
                c
            }
        }
        Some(live) => {
            let reg = get_bool(live, "properties.registrationEnabled").unwrap_or(false);
            let mut fields = Vec::new();
            if reg {
                fields.push(FieldChange {
                    path: "properties.registrationEnabled".into(),
                    before: Some(true.into()),
                    after: Some(false.into()),
                });
            }
            let action = super::outcome(mode, true, !fields.is_empty());
            let mut c = Change::new(
                addr,
                ResourceKind::VnetLink,
                &id,
                action,
                reason,
                fingerprint(Some(live)),
            )
            .with_fields(fields);
            if action == Action::Update {
                let mut body = super::writable_copy(
                    live,
                    &[
                        "properties.provisioningState",
                        "properties.virtualNetworkLinkState",
                    ],
                );
                super::set(&mut body, "properties.registrationEnabled", false.into());
                c.write =
                    Some(Write::new(Method::Put, &id, API_VERSION, Some(body)).if_match(live));
            }
            c
        }
    }
}

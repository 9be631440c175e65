//! `Microsoft.Network/privateDnsZones/virtualNetworkLinks` (N2): each zone linked to the VNets.
//!
//! A VNet can be linked to a zone only once, so an existing link to the same VNet under another
//! name is adopted rather than duplicated. Managed: `properties.virtualNetwork.id`,
//! `properties.registrationEnabled` (always false for privatelink zones). Ignored:
//! `virtualNetworkLinkState`, `resolutionPolicy`, tags.

use serde_json::{json, Value};

use super::kind::{Kind, Meta, Planned, Read, Reads, Stage};
use super::{fingerprint, get_bool, get_str, id_eq, OWNER_TAG, OWNER_VALUE};
use crate::arm::Method;
use crate::blueprint::resolved::Instance;
use crate::blueprint::resolved::{Mode, PrivateDns};
use crate::model::{Action, Change, FieldChange, KindId, Write};

pub use super::private_network::link::{links_read, API_VERSION};

pub fn id(spec: &PrivateDns, zone: &str, name: &str) -> String {
    format!(
        "{}/virtualNetworkLinks/{name}",
        super::private_network::zone::id(spec, zone)
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
            let c =
                Change::new(addr, KIND, &id, action, reason, "absent".into()).with_fields(vec![
                    FieldChange {
                        path: "properties.virtualNetwork.id".into(),
                        before: None,
                        after: Some(vnet_id.into()),
                    },
                ]);
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
            let mut c = Change::new(addr, KIND, &id, action, reason, fingerprint(Some(live)))
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

pub const KIND: KindId = KindId::new("vnet-link");

pub struct VnetLinkKind;

static META: Meta = Meta {
    label: "vnet-link",
    arm_type: "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
    api_version: API_VERSION,
    shared: true,
    managed: &[
        "properties.virtualNetwork.id",
        "properties.registrationEnabled",
        "location",
    ],
    read_only: &[],
    ignored: &[
        "properties.virtualNetworkLinkState",
        "properties.resolutionPolicy",
        "properties.provisioningState",
        "tags",
    ],
    first_on_lock: false,
    weak: &[],
};

impl Kind for VnetLinkKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// Every link of each zone (a link to the same VNet under another name is adopted).
    fn reads(&self, inst: &Instance, seen: &Reads) -> Vec<Read> {
        let plr = super::private_network::zone::link_resources_read(inst);
        if plr.as_ref().is_some_and(|r| seen.result(r).is_none()) {
            return Vec::new();
        }
        super::private_network::zone::zone_reads(inst, seen)
            .into_iter()
            .map(|(_, zone)| links_read(&zone.path))
            .collect()
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let Some(dns) = &inst.controls.private_dns else {
            return Planned::default();
        };
        let vnets: Vec<String> = if dns.spec.vnet_links.is_empty() {
            inst.controls
                .private_endpoint
                .iter()
                .map(|p| p.spec.vnet_id.clone())
                .collect()
        } else {
            dns.spec.vnet_links.clone()
        };
        let mut changes = Vec::new();
        for (z, zone) in super::private_network::zone::zone_reads(inst, seen) {
            // The links of a zone that does not exist are none.
            let links = match seen.value(&zone) {
                Some(_) => seen.items(&links_read(&zone.path)),
                None => &[],
            };
            for v in &vnets {
                changes.push(plan(&inst.name, dns.mode, &dns.spec, &z, v, links));
            }
        }
        Planned::of(Stage::DnsLinks, changes)
    }
}

/// The delete of a link moat created (destroy, when no other instance uses the zone).
pub fn delete(instance: &str, zone: &str, link: &Value) -> Change {
    let lid = get_str(link, "id").unwrap_or_default();
    let vnet = get_str(link, "properties.virtualNetwork.id").unwrap_or(lid);
    super::delete_change(
        address(instance, zone, vnet),
        KIND,
        lid,
        API_VERSION,
        "the VNet link moat created; no other instance uses the zone",
        format!(
            "the VNet {} stops resolving {zone}",
            super::last_segment(vnet)
        ),
        link,
    )
}

//! `Microsoft.Network/privateDnsZones` (N2): the privatelink zones for the account's kind.
//!
//! Managed: existence only (location is always `global`). Ignored: record counts, limits,
//! `internalId`, tags of zones moat did not create. Zones are shared by every instance that uses
//! them; the planner emits one change per zone.

use serde_json::json;
use serde_json::Value;

use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Stage};
use super::{fingerprint, OWNER_TAG, OWNER_VALUE};
use crate::arm::Method;
use crate::blueprint::resolved::Instance;
use crate::blueprint::resolved::{Mode, PrivateDns};
use crate::model::{Change, KindId, Write};

pub use super::private_network::zone::{
    id, link_resources_read, zone_ids, zone_names, zone_reads, zones_for_kind, API_VERSION,
};

pub fn address(instance: &str, zone: &str) -> String {
    format!("{instance}/private-dns-zone/{zone}")
}

pub fn plan(
    instance: &str,
    mode: Mode,
    spec: &PrivateDns,
    zone: &str,
    observed: Option<&Value>,
) -> Change {
    let id = id(spec, zone);
    let action = super::outcome(mode, observed.is_some(), false);
    let c = Change::new(
        address(instance, zone),
        KIND,
        &id,
        action,
        "privatelink DNS zone so the account's name resolves to its private IP (N2)",
        fingerprint(observed),
    );
    if action == crate::model::Action::Create {
        let mut w = Write::new(
            Method::Put,
            &id,
            API_VERSION,
            Some(json!({"location": "global", "tags": {OWNER_TAG: OWNER_VALUE}})),
        );
        w.if_none_match = true;
        c.with_write(w)
    } else {
        c
    }
}

pub const KIND: KindId = KindId::new("private-dns-zone");

pub struct PrivateDnsZoneKind;

static META: Meta = Meta {
    label: "private-dns-zone",
    arm_type: "Microsoft.Network/privateDnsZones",
    api_version: API_VERSION,
    shared: true,
    managed: &["location"],
    read_only: &[],
    ignored: &[
        "tags",
        "properties.maxNumberOfRecordSets",
        "properties.numberOfRecordSets",
        "properties.maxNumberOfVirtualNetworkLinks",
        "properties.numberOfVirtualNetworkLinks",
        "properties.maxNumberOfVirtualNetworkLinksWithRegistration",
        "properties.numberOfVirtualNetworkLinksWithRegistration",
        "properties.provisioningState",
        "properties.internalId",
    ],
    first_on_lock: false,
    weak: &[],
};

impl Kind for PrivateDnsZoneKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn uses(&self, inst: &Instance) -> Vec<String> {
        zone_ids(inst, &Reads::default())
    }

    /// Privatelink zones and their links: only moat's, only when nothing else uses them.
    fn destroy(&self, inst: &Instance, seen: &Reads, in_use: &InUse) -> Planned {
        if !inst
            .controls
            .private_dns
            .as_ref()
            .is_some_and(|d| d.mode == Mode::Managed)
        {
            return Planned::default();
        }
        let group = super::private_network::zone_group::read(inst).and_then(|r| seen.value(&r));
        let mut out = Planned::default();
        for (zone, r) in zone_reads(inst, seen) {
            let Some(live) = seen.value(&r) else { continue };
            let zid = r.path.clone();
            if let Some(why) = keep_zone(live, &zid, group, in_use) {
                out.notes.push(format!(
                    "the privatelink zone {zone} and its VNet links are kept: {why}"
                ));
                continue;
            }
            let links = seen.items(&super::private_network::link::links_read(&zid));
            let (ours, foreign): (Vec<&Value>, Vec<&Value>) =
                links.iter().partition(|l| super::owned_by_tag(l));
            for l in ours {
                out.changes.push((
                    Stage::DnsLinks,
                    super::vnet_link::delete(&inst.name, &zone, l),
                ));
            }
            if !foreign.is_empty() {
                out.notes.push(format!(
                    "the privatelink zone {zone} is kept: {} VNet link(s) moat did not create still use it",
                    foreign.len()
                ));
                continue;
            }
            out.changes.push((
                Stage::DnsZones,
                super::delete_change(
                    address(&inst.name, &zone),
                    KIND,
                    &zid,
                    API_VERSION,
                    "the privatelink zone moat created; no other instance or record uses it",
                    format!("the zone {zone} and its SOA record are deleted"),
                    live,
                ),
            ));
        }
        out
    }

    /// The account's `privateLinkResources` first (when the blueprint lists no zones), then
    /// each zone.
    fn reads(&self, inst: &Instance, seen: &Reads) -> Vec<Read> {
        let plr = link_resources_read(inst);
        if plr.as_ref().is_some_and(|r| seen.result(r).is_none()) {
            return plr.into_iter().collect();
        }
        zone_reads(inst, seen).into_iter().map(|(_, r)| r).collect()
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let Some(dns) = &inst.controls.private_dns else {
            return Planned::default();
        };
        let changes = zone_reads(inst, seen)
            .into_iter()
            .map(|(z, r)| plan(&inst.name, dns.mode, &dns.spec, &z, seen.value(&r)));
        Planned::of(Stage::DnsZones, changes)
    }
}

/// Why destroy keeps a zone: another instance uses it, it holds records of other resources
/// (beyond its SOA and the A record of the group being deleted), or moat did not create it.
fn keep_zone(live: &Value, zid: &str, group: Option<&Value>, in_use: &InUse) -> Option<String> {
    let ours_in_zone = group.is_some_and(|g| {
        super::get(g, "properties.privateDnsZoneConfigs")
            .and_then(Value::as_array)
            .is_some_and(|cfgs| {
                cfgs.iter().any(|cfg| {
                    super::get_str(cfg, "properties.privateDnsZoneId")
                        .is_some_and(|z| super::id_eq(z, zid))
                        && super::get(cfg, "properties.recordSets")
                            .and_then(Value::as_array)
                            .is_some_and(|r| !r.is_empty())
                })
            })
    });
    let record_sets = super::get(live, "properties.numberOfRecordSets")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let foreign_records = record_sets.saturating_sub(1 + u64::from(ours_in_zone));
    if in_use.contains(&super::norm_id(zid)) {
        Some("another instance of the blueprint uses it".to_string())
    } else if foreign_records > 0 {
        Some(format!(
            "it holds {foreign_records} record set(s) of other resources"
        ))
    } else if !super::owned_by_tag(live) {
        Some("moat did not create it".to_string())
    } else {
        None
    }
}

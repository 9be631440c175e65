//! `Microsoft.Network/privateEndpoints/privateDnsZoneGroups` (N3).
//!
//! Managed: the set of zone ids in `privateDnsZoneConfigs` (case-insensitive). Ignored:
//! `recordSets` (server-written A records), provisioning state, config names. In `verify` mode
//! (Azure Policy owns the group, `deployedByPolicy`) moat only checks that every zone is present
//! and never writes or deletes the group.

use serde_json::{json, Value};

use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Ready, Stage};
use super::{fingerprint, get, get_str, set_eq_ci};
use crate::arm::Method;
use crate::blueprint::resolved::Instance;
use crate::blueprint::resolved::Mode;
use crate::model::{Action, Change, FieldChange, KindId, Write};

pub use super::private_network::zone_group::{id, read, API_VERSION};

pub fn address(inst: &Instance, name: &str) -> String {
    format!("{}/dns-zone-group/{name}", inst.name)
}

fn live_zone_ids(group: &Value) -> Vec<String> {
    get(group, "properties.privateDnsZoneConfigs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| get_str(c, "properties.privateDnsZoneId").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `zone_ids`: full ids of the zones the group must reference.
pub fn plan(
    inst: &Instance,
    endpoint_id: &str,
    zone_ids: &[String],
    observed: Option<&Value>,
) -> Option<Change> {
    let ctl = inst.controls.dns_zone_group.as_ref()?;
    let name = &ctl.spec.name;
    let id = id(endpoint_id, name);
    let live = observed.map(live_zone_ids).unwrap_or_default();
    let differs = !set_eq_ci(&live, zone_ids);
    let action = super::outcome(ctl.mode, observed.is_some(), differs);
    let mut c = Change::new(
        address(inst, name),
        KIND,
        &id,
        action,
        "zone group on the endpoint so its A records are written into the privatelink zones (N3)",
        fingerprint(observed),
    );
    if differs {
        c.fields.push(FieldChange {
            path: "properties.privateDnsZoneConfigs".into(),
            before: observed.map(|_| super::json_strs(&live)),
            after: Some(super::json_strs(zone_ids)),
        });
    }
    if matches!(action, Action::Create | Action::Update) {
        let configs: Vec<Value> = zone_ids
            .iter()
            .map(|z| {
                json!({
                    "name": super::last_segment(z).replace('.', "-"),
                    "properties": {"privateDnsZoneId": z}
                })
            })
            .collect();
        c.write = Some(Write::new(
            Method::Put,
            &id,
            API_VERSION,
            Some(json!({"properties": {"privateDnsZoneConfigs": configs}})),
        ));
    }
    Some(c)
}

pub const KIND: KindId = KindId::new("dns-zone-group");

pub struct DnsZoneGroupKind;

static META: Meta = Meta {
    label: "dns-zone-group",
    arm_type: "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
    api_version: API_VERSION,
    shared: false,
    managed: &["properties.privateDnsZoneConfigs[].properties.privateDnsZoneId"],
    read_only: &[],
    ignored: &[
        "properties.privateDnsZoneConfigs[].name",
        "properties.privateDnsZoneConfigs[].properties.recordSets",
        "properties.provisioningState",
    ],
    first_on_lock: false,
    weak: &[],
};

impl Kind for DnsZoneGroupKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// The zone group moat manages on the endpoint (its A records go with it).
    fn destroy(&self, inst: &Instance, seen: &Reads, _in_use: &InUse) -> Planned {
        let managed = inst.controls.dns_zone_group.as_ref().map(|g| g.mode) == Some(Mode::Managed);
        let (Some(pe), Some(group)) = (
            inst.controls.private_endpoint.as_ref(),
            read(inst).and_then(|r| seen.value(&r)),
        ) else {
            return Planned::default();
        };
        if !managed {
            return Planned::default();
        }
        let gname = get_str(group, "name").unwrap_or("default");
        Planned::of(
            Stage::EndpointDns,
            [super::delete_change(
                address(inst, gname),
                KIND,
                &id(&super::private_network::endpoint::id(&pe.spec), gname),
                API_VERSION,
                "the zone group moat created on the endpoint (its A records go with it)",
                "the account's name no longer resolves to its private IP in the privatelink zones",
                group,
            )],
        )
    }

    /// Read once the endpoint is known to exist.
    fn reads(&self, inst: &Instance, seen: &Reads) -> Vec<Read> {
        let endpoint_exists =
            super::private_network::endpoint::read(inst).is_some_and(|r| seen.value(&r).is_some());
        read(inst).filter(|_| endpoint_exists).into_iter().collect()
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let Some(pe) = &inst.controls.private_endpoint else {
            return Planned::default();
        };
        let zone_ids = super::private_network::zone::zone_ids(inst, seen);
        let live = read(inst).and_then(|r| seen.value(&r));
        Planned::of(
            Stage::EndpointDns,
            plan(
                inst,
                &super::private_network::endpoint::id(&pe.spec),
                &zone_ids,
                live,
            ),
        )
    }
}

/// The zone group exists, has zones, and each zone holds the A record the group wrote.
pub fn records_ready(group_id: &str, seen: &Reads) -> Ready {
    let group = match Ready::read(seen, Read::get(group_id.to_string(), API_VERSION)) {
        Ok(Some(g)) => g,
        Ok(None) => return Ready::Wait("DNS zone group does not exist".into()),
        Err(need) => return need,
    };
    let configs = get(group, "properties.privateDnsZoneConfigs")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if configs.is_empty() {
        return Ready::Wait("DNS zone group has no zones".into());
    }
    for cfg in configs {
        let zone = get_str(cfg, "properties.privateDnsZoneId").unwrap_or("");
        let sets = get(cfg, "properties.recordSets")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let Some(set) = sets
            .iter()
            .find(|s| get_str(s, "recordType").is_some_and(|t| t.eq_ignore_ascii_case("A")))
        else {
            return Ready::Wait(format!("no A record written into {zone} yet"));
        };
        let name = get_str(set, "recordSetName").unwrap_or("");
        let record = Read::get(
            format!("{zone}/A/{name}"),
            super::private_network::zone::API_VERSION,
        );
        let rec = match Ready::read(seen, record) {
            Ok(v) => v,
            Err(need) => return need,
        };
        let has_ip = rec
            .and_then(|r| get(r, "properties.aRecords"))
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !has_ip {
            return Ready::Wait(format!("A record {name} missing in {zone}"));
        }
    }
    Ready::Yes
}

//! `Microsoft.Network/privateEndpoints` (N1): one endpoint for group `account`.
//!
//! Managed: existence, `properties.subnet.id`, the target service and group of its connection.
//! An existing endpoint that points elsewhere is not replaced (moat never deletes an endpoint
//! clients may depend on): the plan blocks. Ignored: `networkInterfaces`, `customDnsConfigs`
//! (server-owned), `ipConfigurations`, `applicationSecurityGroups`, tags.

use serde_json::{json, Value};

use super::kind::{
    provisioning_gate, short, InUse, Kind, Meta, Planned, Read, Reads, Ready, Stage,
};
use super::{fingerprint, get, get_str, id_eq, OWNER_TAG, OWNER_VALUE};
use crate::arm::Method;
use crate::blueprint::resolved::Instance;
use crate::model::{Action, Change, FieldChange, Gate, KindId, Resend, Write};

pub use super::private_network::endpoint::{id, read, API_VERSION};

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
        let c = Change::new(addr, KIND, &id, action, reason, "absent".into()).with_fields(vec![
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
                KIND,
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
        return Some(Change::new(addr, KIND, &id, action, reason, fp));
    }
    if ctl.mode == crate::blueprint::resolved::Mode::Verify {
        return Some(Change::new(addr, KIND, &id, Action::Drift, reason, fp).with_fields(fields));
    }
    Some(
        Change::blocked(
            addr,
            KIND,
            id,
            "a private endpoint with this name exists but points at another subnet or service; an endpoint's subnet and target cannot be changed, and moat does not delete endpoints clients may use: rename the endpoint in the blueprint or remove the old one",
            fp,
        )
        .with_fields(fields),
    )
}

pub const KIND: KindId = KindId::new("private-endpoint");

pub struct PrivateEndpointKind;

static META: Meta = Meta {
    label: "private-endpoint",
    arm_type: "Microsoft.Network/privateEndpoints",
    api_version: API_VERSION,
    shared: false,
    managed: &[
        "location",
        "properties.subnet.id",
        "properties.privateLinkServiceConnections[].name",
        "properties.privateLinkServiceConnections[].properties.privateLinkServiceId",
        "properties.privateLinkServiceConnections[].properties.groupIds",
        "tags",
    ],
    read_only: &[],
    ignored: &[
        "properties.networkInterfaces",
        "properties.customDnsConfigs",
        "properties.ipConfigurations",
        "properties.applicationSecurityGroups",
        "properties.customNetworkInterfaceName",
        "properties.manualPrivateLinkServiceConnections",
        "properties.privateLinkServiceConnections[].properties.requestMessage",
        "properties.privateLinkServiceConnections[].properties.privateLinkServiceConnectionState",
        "properties.privateLinkServiceConnections[].properties.provisioningState",
        "properties.privateLinkServiceConnections[].id",
        "properties.privateLinkServiceConnections[].type",
        "properties.privateLinkServiceConnections[].etag",
        "properties.provisioningState",
        "properties.ipVersionType",
        "extendedLocation",
    ],
    first_on_lock: true,
    weak: &[],
};

impl Kind for PrivateEndpointKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// The endpoint moat created for the account; one it did not create stays.
    fn destroy(&self, inst: &Instance, seen: &Reads, _in_use: &InUse) -> Planned {
        let (Some(ctl), Some(live)) = (
            inst.controls.private_endpoint.as_ref(),
            read(inst).and_then(|r| seen.value(&r)),
        ) else {
            return Planned::default();
        };
        let id = id(&ctl.spec);
        if !super::owned_by_tag(live) {
            return Planned {
                notes: vec![format!(
                    "the private endpoint {id} is not tagged `{OWNER_TAG}: {OWNER_VALUE}`: left in place"
                )],
                ..Planned::default()
            };
        }
        Planned::of(
            Stage::Endpoint,
            [super::delete_change(
                address(inst, super::last_segment(&id)),
                KIND,
                &id,
                API_VERSION,
                "the private endpoint moat created for the account",
                "clients in the VNet lose their private path to the account",
                live,
            )],
        )
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        read(inst).into_iter().collect()
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let live = read(inst).and_then(|r| seen.value(&r));
        let mut changes: Vec<Change> = plan(inst, live).into_iter().collect();
        // ARM refuses an endpoint on an account that is not Succeeded
        // (AccountProvisioningStateInvalid).
        for c in changes.iter_mut().filter(|c| c.action.is_write()) {
            c.gates
                .push(super::account::succeeded_gate(&inst.account_id()));
        }
        Planned::of(Stage::Endpoint, changes)
    }

    /// Network tightening waits for a working private path: the endpoint Succeeded, its
    /// connection Approved, its zone group's A records present.
    fn gate(&self, inst: &Instance, stage: Stage, _changes: &[&Change]) -> Option<Gate> {
        let pe = inst
            .controls
            .private_endpoint
            .as_ref()
            .filter(|_| stage == Stage::Endpoint)?;
        let endpoint = id(&pe.spec);
        let group = inst
            .controls
            .dns_zone_group
            .as_ref()
            .map(|g| super::dns_zone_group::id(&endpoint, &g.spec.name));
        Some(ready_gate(&endpoint, &inst.account_id(), group))
    }

    /// A private endpoint being written holds its target account (ARM answers the account's own
    /// writes with RequestConflict meanwhile, and refuses the endpoint while the account is being
    /// updated): one lock for both.
    fn lock(&self, change: &Change) -> Option<String> {
        target_account(change).and_then(super::account::lock_of)
    }

    fn resend(&self, change: &Change) -> Option<Resend> {
        target_account(change).and_then(super::account::resend_when_busy)
    }

    /// `ids`: the endpoint, its account, then its DNS zone group if it has one. The endpoint is
    /// Succeeded, its connection on the account Approved, and the zone group's A records exist
    /// in every zone.
    fn ready(&self, ids: &[String], seen: &Reads) -> Ready {
        let [endpoint, account, rest @ ..] = ids else {
            return Ready::Yes;
        };
        let pe = match Ready::read(seen, Read::get(endpoint.clone(), API_VERSION)) {
            Ok(v) => v,
            Err(need) => return need,
        };
        let state = pe.and_then(|p| get_str(p, "properties.provisioningState"));
        if let Some(not_yet) = provisioning_gate("private endpoint", endpoint, state) {
            return not_yet;
        }
        let conns = Read::list(
            format!("{account}/privateEndpointConnections"),
            super::account::API_VERSION,
        );
        if seen.result(&conns).is_none() {
            return Ready::Need(vec![conns]);
        }
        let approved = seen.items(&conns).iter().any(|c| {
            get_str(c, "properties.privateEndpoint.id").is_some_and(|p| id_eq(p, endpoint))
                && get_str(c, "properties.privateLinkServiceConnectionState.status")
                    .is_some_and(|s| s.eq_ignore_ascii_case("Approved"))
        });
        if !approved {
            return Ready::Wait("private endpoint connection not Approved on the account".into());
        }
        match rest.first() {
            Some(group) => super::dns_zone_group::records_ready(group, seen),
            None => Ready::Yes,
        }
    }

    fn describe_gate(&self, ids: &[String]) -> String {
        format!(
            "{} Succeeded, its connection Approved and its DNS A records present",
            short(ids.first().map(String::as_str).unwrap_or(""))
        )
    }
}

/// The gate network tightening waits for: the endpoint ready, with its zone group's records.
pub fn ready_gate(endpoint_id: &str, account_id: &str, zone_group_id: Option<String>) -> Gate {
    let mut ids = vec![endpoint_id.to_string(), account_id.to_string()];
    ids.extend(zone_group_id);
    Gate { kind: KIND, ids }
}

/// The Cognitive Services account a private endpoint write connects to, as written.
pub fn target_account(c: &Change) -> Option<&str> {
    let body = c.write.as_ref()?.body.as_ref()?;
    [
        "privateLinkServiceConnections",
        "manualPrivateLinkServiceConnections",
    ]
    .iter()
    .filter_map(|l| body["properties"][l].as_array())
    .flatten()
    .filter_map(|conn| conn["properties"]["privateLinkServiceId"].as_str())
    .find(|t| super::account::account_of(t).is_some())
}

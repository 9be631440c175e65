//! `Microsoft.Network/virtualNetworks/subnets` (N4): `privateEndpointNetworkPolicies`, so that
//! NSG rules apply to the private endpoint.
//!
//! A subnet PUT is a full replace (omitting `networkSecurityGroup` would detach the NSG), so the
//! body is the raw observed subnet minus read-only fields with only the managed property changed.
//! Managed: `properties.privateEndpointNetworkPolicies`. Ignored: everything else.

use serde_json::Value;

use super::kind::{Kind, Meta, Planned, Read, Reads, Stage};
use super::{enum_eq, fingerprint, get_str, writable_copy};
use crate::arm::Method;
use crate::blueprint::resolved::Instance;
use crate::blueprint::resolved::Mode;
use crate::model::{Action, Change, FieldChange, KindId, Write};

pub const API_VERSION: &str = super::private_endpoint::API_VERSION;

pub fn address(instance: &str, subnet_id: &str) -> String {
    format!("{instance}/subnet/{}", super::last_segment(subnet_id))
}

/// `None` when the blueprint leaves the subnet's policies alone.
pub fn plan(
    instance: &str,
    mode: Mode,
    subnet_id: &str,
    want: Option<&str>,
    observed: Option<&Value>,
) -> Option<Change> {
    let want = want?;
    let addr = address(instance, subnet_id);
    let Some(live) = observed else {
        return Some(Change::blocked(
            addr,
            KIND,
            subnet_id,
            "the endpoint subnet does not exist: moat does not create VNets or subnets; create it or fix the id",
            "absent".into(),
        ));
    };
    let current = get_str(live, "properties.privateEndpointNetworkPolicies").unwrap_or("Disabled");
    let differs = !enum_eq(current, want);
    let action = super::outcome(mode, true, differs);
    let mut c = Change::new(
        addr,
        KIND,
        subnet_id,
        action,
        "private endpoint network policies on, so the NSG rules apply to the endpoint (N4)",
        fingerprint(Some(live)),
    );
    if differs {
        c.fields.push(FieldChange {
            path: "properties.privateEndpointNetworkPolicies".into(),
            before: Some(current.into()),
            after: Some(want.into()),
        });
    }
    if action == Action::Update {
        let mut body = writable_copy(live, META.read_only);
        super::set(
            &mut body,
            "properties.privateEndpointNetworkPolicies",
            want.into(),
        );
        c.write = Some(Write::new(Method::Put, subnet_id, API_VERSION, Some(body)).if_match(live));
    }
    Some(c)
}

pub const KIND: KindId = KindId::new("subnet");

pub struct SubnetKind;

static META: Meta = Meta {
    label: "subnet",
    arm_type: "Microsoft.Network/virtualNetworks/subnets",
    api_version: API_VERSION,
    shared: true,
    managed: &["properties.privateEndpointNetworkPolicies"],
    read_only: &[
        "properties.provisioningState",
        "properties.ipConfigurations",
        "properties.ipConfigurationProfiles",
        "properties.privateEndpoints",
        "properties.purpose",
        "properties.resourceNavigationLinks",
        "properties.serviceAssociationLinks",
    ],
    ignored: &[
        "properties.addressPrefix",
        "properties.addressPrefixes",
        "properties.networkSecurityGroup",
        "properties.routeTable",
        "properties.natGateway",
        "properties.serviceEndpoints",
        "properties.serviceEndpointPolicies",
        "properties.delegations",
        "properties.privateLinkServiceNetworkPolicies",
        "properties.ipAllocations",
        "properties.applicationGatewayIPConfigurations",
        "properties.defaultOutboundAccess",
        "properties.sharingScope",
        "properties.ipamPoolPrefixAllocations",
    ],
    first_on_lock: false,
    // Network policies off: the NSG does not apply to the private endpoint.
    weak: &[("properties.privateEndpointNetworkPolicies", "\"Disabled\"")],
};

impl Kind for SubnetKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        read(inst).into_iter().collect()
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let Some(pe) = &inst.controls.private_endpoint else {
            return Planned::default();
        };
        let live = read(inst).and_then(|r| seen.value(&r));
        Planned::of(
            Stage::SubnetPolicy,
            plan(
                &inst.name,
                pe.mode,
                &pe.spec.subnet_id,
                pe.spec.subnet_network_policies.as_deref(),
                live,
            ),
        )
    }

    /// Subnets of one VNet are written one at a time (ARM: AnotherOperationInProgress).
    fn lock(&self, change: &Change) -> Option<String> {
        Some(format!(
            "vnet:{}",
            super::norm_id(super::parent_id(&change.id))
        ))
    }
}

/// The private endpoint's subnet.
pub fn read(inst: &Instance) -> Option<Read> {
    inst.controls
        .private_endpoint
        .as_ref()
        .map(|p| Read::get(p.spec.subnet_id.clone(), API_VERSION))
}

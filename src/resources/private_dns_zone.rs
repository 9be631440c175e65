//! `Microsoft.Network/privateDnsZones` (N2): the privatelink zones for the account's kind.
//!
//! Managed: existence only (location is always `global`). Ignored: record counts, limits,
//! `internalId`, tags of zones moat did not create. Zones are shared by every instance that uses
//! them; the planner emits one change per zone.

use serde_json::json;
use serde_json::Value;

use super::kind::{Kind, Meta};
use super::{fingerprint, OWNER_TAG, OWNER_VALUE};
use crate::arm::Method;
use crate::blueprint::resolved::{Mode, PrivateDns};
use crate::model::{Change, KindId, Write};

pub const API_VERSION: &str = "2024-06-01";

/// The zones an account of this kind needs when ARM's `requiredZoneNames` is not available (the
/// account does not exist yet). HARDENING.md, "DNS zones by kind".
pub fn zones_for_kind(kind: &str) -> Vec<String> {
    let z: &[&str] = if kind.eq_ignore_ascii_case("OpenAI") {
        &["privatelink.openai.azure.com"]
    } else if kind.eq_ignore_ascii_case("AIServices") {
        &[
            "privatelink.cognitiveservices.azure.com",
            "privatelink.openai.azure.com",
            "privatelink.services.ai.azure.com",
        ]
    } else {
        &["privatelink.cognitiveservices.azure.com"]
    };
    z.iter().map(|s| s.to_string()).collect()
}

pub fn id(spec: &PrivateDns, zone: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/privateDnsZones/{zone}",
        spec.subscription, spec.resource_group
    )
}

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
};

impl Kind for PrivateDnsZoneKind {
    fn meta(&self) -> &'static Meta {
        &META
    }
}

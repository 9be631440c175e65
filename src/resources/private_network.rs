//! Where the private-network resources are in ARM and how they are read: the ids, api-versions
//! and reads that the private endpoint, its DNS zone group, the privatelink zones and their VNet
//! links name of each other. A leaf under those four kinds (each re-exports its own part), so
//! that they can use each other's without importing each other both ways.

/// `Microsoft.Network/privateEndpoints`.
pub mod endpoint {
    use crate::blueprint::resolved::{Instance, PrivateEndpoint};
    use crate::resources::kind::Read;

    pub const API_VERSION: &str = "2024-03-01";

    pub fn id(spec: &PrivateEndpoint) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/privateEndpoints/{}",
            spec.subscription, spec.resource_group, spec.name
        )
    }

    pub fn read(inst: &Instance) -> Option<Read> {
        inst.controls
            .private_endpoint
            .as_ref()
            .map(|p| Read::get(id(&p.spec), API_VERSION))
    }
}

/// `Microsoft.Network/privateEndpoints/privateDnsZoneGroups`.
pub mod zone_group {
    use crate::blueprint::resolved::Instance;
    use crate::resources::kind::Read;

    pub const API_VERSION: &str = super::endpoint::API_VERSION;

    pub fn id(endpoint_id: &str, name: &str) -> String {
        format!("{endpoint_id}/privateDnsZoneGroups/{name}")
    }

    pub fn read(inst: &Instance) -> Option<Read> {
        let pe = inst.controls.private_endpoint.as_ref()?;
        let g = inst.controls.dns_zone_group.as_ref()?;
        Some(Read::get(
            id(&super::endpoint::id(&pe.spec), &g.spec.name),
            API_VERSION,
        ))
    }
}

/// `Microsoft.Network/privateDnsZones`: the privatelink zones an instance needs.
pub mod zone {
    use serde_json::Value;

    use crate::blueprint::resolved::{Instance, PrivateDns};
    use crate::resources::kind::{Read, Reads};
    use crate::resources::{account, get, get_str, str_list};

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

    /// `privateLinkResources` of the account, read when the blueprint lists no zones.
    pub fn link_resources_read(inst: &Instance) -> Option<Read> {
        inst.controls
            .private_dns
            .as_ref()
            .filter(|d| d.spec.zones.is_empty())
            .map(|_| {
                Read::get(
                    format!("{}/privateLinkResources", inst.account_id()),
                    account::API_VERSION,
                )
            })
    }

    /// The privatelink zones an instance needs: the blueprint's list, else what ARM's
    /// `privateLinkResources` says (`requiredZoneNames` of group `account`), else the zones for the
    /// account's kind. Lower-case, sorted.
    pub fn zone_names(inst: &Instance, seen: &Reads) -> Vec<String> {
        let Some(dns) = &inst.controls.private_dns else {
            return Vec::new();
        };
        let required: Vec<String> = link_resources_read(inst)
            .and_then(|r| seen.value(&r))
            .and_then(|v| v.get("value"))
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter(|i| {
                        get_str(i, "properties.groupId")
                            .is_some_and(|g| g.eq_ignore_ascii_case("account"))
                    })
                    .flat_map(|i| str_list(get(i, "properties.requiredZoneNames")))
                    .collect()
            })
            .unwrap_or_default();
        let mut z = if !dns.spec.zones.is_empty() {
            dns.spec.zones.clone()
        } else if !required.is_empty() {
            required
        } else {
            zones_for_kind(&inst.kind)
        };
        for name in z.iter_mut() {
            *name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        }
        z.sort();
        z.dedup();
        z
    }

    /// Each zone's name and read.
    pub fn zone_reads(inst: &Instance, seen: &Reads) -> Vec<(String, Read)> {
        let Some(dns) = &inst.controls.private_dns else {
            return Vec::new();
        };
        zone_names(inst, seen)
            .into_iter()
            .map(|z| {
                let r = Read::get(id(&dns.spec, &z), API_VERSION);
                (z, r)
            })
            .collect()
    }

    /// The ids of the zones the instance's zone group must name.
    pub fn zone_ids(inst: &Instance, seen: &Reads) -> Vec<String> {
        zone_reads(inst, seen)
            .into_iter()
            .map(|(_, r)| r.path)
            .collect()
    }
}

/// `Microsoft.Network/privateDnsZones/virtualNetworkLinks`.
pub mod link {
    use crate::resources::kind::Read;

    pub const API_VERSION: &str = super::zone::API_VERSION;

    /// The links of a zone.
    pub fn links_read(zone_id: &str) -> Read {
        Read::list(format!("{zone_id}/virtualNetworkLinks"), API_VERSION)
    }
}

//! `moat emulator seed FILE`: a brownfield seed for any blueprint, so its plan and apply can be
//! tried on the local emulator (docs/emulator.md). For each instance: its resource group, and —
//! unless moat may create it — the account as teams usually leave one (public network access on,
//! key auth on, network ACLs open) with its declared deployments on Microsoft's default content
//! filter; and everything the blueprint expects to exist already: the endpoint subnet in its
//! VNet (network policies off), the NSG, the VNets the privatelink zones link to, the zones'
//! resource group, the Log Analytics workspace and the CMK key vault. Resources several instances
//! name are written once (their subnets merged into one VNet).
//!
//! A seed is test data, never a description of real Azure: ids come from the blueprint, every
//! other value is made up (address ranges, SKUs, a tenant id of zeros).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::blueprint::resolved::{Blueprint, Instance};

/// The seed: a JSON array of ARM resource bodies, in a stable order (resource groups first).
pub fn brownfield(bp: &Blueprint) -> Vec<Value> {
    let mut seed = Seed::default();
    for inst in &bp.instances {
        seed.instance(inst);
    }
    seed.finish()
}

#[derive(Default)]
struct Seed {
    /// By lower-cased id; resource groups are kept apart so they come first.
    groups: BTreeMap<String, Value>,
    resources: BTreeMap<String, Value>,
    /// Extra VNets made up for links, to give each its own address space.
    made_vnets: usize,
}

/// `/subscriptions/S/resourceGroups/G` of an ARM id.
fn group_of(id: &str) -> Option<String> {
    let segs: Vec<&str> = id.split('/').collect();
    let at = segs
        .iter()
        .position(|s| s.eq_ignore_ascii_case("resourceGroups"))?;
    Some(segs.get(..at + 2)?.join("/"))
}

fn last(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or_default()
}

impl Seed {
    fn group(&mut self, id: &str, location: &str) {
        self.groups
            .entry(id.to_ascii_lowercase())
            .or_insert_with(|| json!({"id": id, "name": last(id), "location": location}));
    }

    fn resource(&mut self, body: Value, location: &str) {
        let id = body["id"].as_str().unwrap_or_default().to_string();
        if let Some(g) = group_of(&id) {
            self.group(&g, location);
        }
        self.resources
            .entry(id.to_ascii_lowercase())
            .or_insert(body);
    }

    fn instance(&mut self, inst: &Instance) {
        let loc = inst.location.as_str();
        let rg = format!(
            "/subscriptions/{}/resourceGroups/{}",
            inst.subscription, inst.resource_group
        );
        self.group(&rg, loc);
        if !inst.create_if_missing {
            self.account(inst);
        }
        let nsg = inst.controls.nsg.as_ref().map(|n| n.spec.nsg_id.clone());
        if let Some(id) = &nsg {
            self.resource(
                json!({"id": id, "name": last(id), "location": loc, "properties": {"securityRules": []}}),
                loc,
            );
        }
        if let Some(pe) = &inst.controls.private_endpoint {
            let prefix = endpoint_prefix(inst);
            self.subnet(
                &pe.spec.vnet_id,
                &pe.spec.subnet_id,
                &prefix,
                nsg.as_deref(),
                loc,
            );
        }
        if let Some(dns) = &inst.controls.private_dns {
            let g = format!(
                "/subscriptions/{}/resourceGroups/{}",
                dns.spec.subscription, dns.spec.resource_group
            );
            self.group(&g, loc);
            for vnet in &dns.spec.vnet_links {
                if !self.resources.contains_key(&vnet.to_ascii_lowercase()) {
                    self.made_vnets += 1;
                    let space = format!("10.{}.0.0/16", 200 + self.made_vnets % 50);
                    self.resource(
                        json!({"id": vnet, "name": last(vnet), "location": loc,
                               "properties": {"addressSpace": {"addressPrefixes": [space]}, "subnets": []}}),
                        loc,
                    );
                }
            }
        }
        if let Some(d) = &inst.controls.diagnostics {
            let id = &d.spec.workspace_id;
            self.resource(
                json!({"id": id, "name": last(id), "location": loc,
                       "properties": {"sku": {"name": "PerGB2018"}, "retentionInDays": 30}}),
                loc,
            );
        }
        if let Some(vault) = inst
            .controls
            .encryption
            .as_ref()
            .and_then(|e| e.spec.key_vault_id.clone())
        {
            self.resource(
                json!({"id": vault, "name": last(&vault), "location": loc, "properties": {
                    "tenantId": "00000000-0000-0000-0000-000000000000",
                    "sku": {"family": "A", "name": "premium"},
                    "enableRbacAuthorization": true, "enableSoftDelete": true,
                    "enablePurgeProtection": true, "accessPolicies": []}}),
                loc,
            );
        }
    }

    /// The account as teams leave one, and its declared deployments on the default filter.
    fn account(&mut self, inst: &Instance) {
        let id = inst.account_id();
        let mut props = json!({
            "publicNetworkAccess": "Enabled",
            "disableLocalAuth": false,
            "networkAcls": {"defaultAction": "Allow", "ipRules": [], "virtualNetworkRules": []}
        });
        if let Some(sub) = &inst.custom_subdomain {
            props["customSubDomainName"] = json!(sub);
        }
        self.resource(
            json!({"id": id, "name": inst.account_name, "type": "Microsoft.CognitiveServices/accounts",
                   "location": inst.location, "kind": inst.kind, "sku": {"name": inst.sku},
                   "properties": props}),
            &inst.location,
        );
        let declared = inst
            .controls
            .deployments
            .as_ref()
            .map(|d| d.spec.declared.clone());
        for d in declared.unwrap_or_default() {
            let mut model = json!({"format": d.model_format, "name": d.model_name});
            if let Some(v) = &d.model_version {
                model["version"] = json!(v);
            }
            self.resource(
                json!({"id": format!("{id}/deployments/{}", d.name), "name": d.name,
                       "sku": {"name": d.sku_name, "capacity": d.capacity},
                       "properties": {"model": model, "raiPolicyName": "Microsoft.DefaultV2"}}),
                &inst.location,
            );
        }
    }

    /// The endpoint subnet inside its VNet (one VNet body holds every subnet seeded in it).
    fn subnet(&mut self, vnet: &str, subnet: &str, prefix: &str, nsg: Option<&str>, loc: &str) {
        let key = vnet.to_ascii_lowercase();
        if !self.resources.contains_key(&key) {
            self.resource(
                json!({"id": vnet, "name": last(vnet), "location": loc,
                       "properties": {"addressSpace": {"addressPrefixes": []}, "subnets": []}}),
                loc,
            );
        }
        let body = self.resources.get_mut(&key).expect("inserted above");
        let props = &mut body["properties"];
        let name = last(subnet);
        let subnets = props["subnets"].as_array_mut().expect("subnets");
        if subnets.iter().any(|s| s["name"] == name) {
            return;
        }
        let mut s = json!({"name": name, "properties": {
            "addressPrefix": prefix, "privateEndpointNetworkPolicies": "Disabled"}});
        if let Some(n) = nsg {
            s["properties"]["networkSecurityGroup"] = json!({"id": n});
        }
        subnets.push(s);
        if let Some(space) = props["addressSpace"]["addressPrefixes"].as_array_mut() {
            if !space.iter().any(|p| p == prefix) {
                space.push(json!(prefix));
            }
        }
    }

    fn finish(self) -> Vec<Value> {
        self.groups
            .into_values()
            .chain(self.resources.into_values())
            .collect()
    }
}

/// The endpoint subnet's address range: the destination of the blueprint's NSG rules (which is
/// `existing.endpointSubnetPrefix`), else a made-up one.
fn endpoint_prefix(inst: &Instance) -> String {
    inst.controls
        .nsg
        .as_ref()
        .and_then(|n| {
            n.spec
                .rules
                .iter()
                .flat_map(|r| r.destination_address_prefixes.iter())
                .find(|p| p.contains('/') && p.chars().next().is_some_and(|c| c.is_ascii_digit()))
                .cloned()
        })
        .unwrap_or_else(|| "10.0.2.0/24".to_string())
}

//! Microsoft.Network/privateEndpoints and their privateDnsZoneGroups, with the side effects
//! Azure performs: a NIC with a private IP from the subnet, a private endpoint connection on the
//! target account (mirrored into the account body), A records written into private DNS zones.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use super::cognitive::{required_zones, ACCOUNT_TYPE};
use super::cognitive_connections::{conn_state, CONN_LISTS, PEC_TYPE};
use super::network::{API_VERSIONS, NET};
use crate::emulator::cx::Cx;
use crate::emulator::error::ApiError;
use crate::emulator::ids::ResId;
use crate::emulator::provider::{Info, Provider, Write};
use crate::emulator::spec::{Spec, TypeDef};
use crate::emulator::store::{
    is_settled, is_type, prop_str, props, provisioning_state, EtagStyle, State,
};

const PE_TYPE: &str = "Microsoft.Network/privateEndpoints";
const ZONE_GROUP_TYPE: &str = "Microsoft.Network/privateEndpoints/privateDnsZoneGroups";

const TYPES: &[TypeDef] = &[
    TypeDef {
        name: PE_TYPE,
        spec: Spec { patch: None, ..NET },
        seed_rank: 9,
        known: Some(&super::shapes::PRIVATE_ENDPOINT),
        ..TypeDef::BASE
    },
    TypeDef {
        name: ZONE_GROUP_TYPE,
        spec: Spec { patch: None, ..NET },
        seed_rank: 10,
        known: Some(&super::shapes::ZONE_GROUP),
        ..TypeDef::BASE
    },
];

const INFO: Info = Info {
    namespace: "Microsoft.Network",
    api_versions: API_VERSIONS,
    types: TYPES,
};

pub struct PrivateEndpoints;

impl Provider for PrivateEndpoints {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn prepare(&self, cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let Write { id, body, existing } = w;
        if id.is(PE_TYPE) {
            prepare_pe(cx, id, body, existing)
        } else {
            prepare_zone_group(cx, id, body, existing)
        }
    }

    fn after_commit(&self, cx: &mut Cx, id: &ResId, body: &Value) {
        if id.is(PE_TYPE) {
            after_commit_pe(cx, id, body);
        } else {
            after_commit_zone_group(cx, body);
        }
    }

    fn after_delete(&self, cx: &mut Cx, id: &ResId, body: &Value) {
        if id.is(PE_TYPE) {
            after_delete_pe(cx, body);
        } else {
            after_delete_zone_group(cx, body);
        }
    }

    /// A private endpoint being written locks the accounts it connects to.
    fn locks(&self, _st: &State, body: &Value) -> Vec<String> {
        if !is_type(body, PE_TYPE) {
            return Vec::new();
        }
        CONN_LISTS
            .iter()
            .flat_map(|l| {
                body["properties"][l]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|c| {
                c.pointer("/properties/privateLinkServiceId")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
            })
            .collect()
    }
}

fn cidr(prefix: &str) -> Option<(u32, u32)> {
    let (ip, len) = prefix.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let base = u32::from(ip) & mask;
    Some((base, base | !mask))
}

/// The private IP of a stored private endpoint.
fn pe_ip(pe: &Value) -> Option<String> {
    pe.pointer("/properties/customDnsConfigs/0/ipAddresses/0")
        .or_else(|| pe.pointer("/properties/ipConfigurations/0/properties/privateIPAddress"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Lowest free address of the subnet, skipping the five Azure reserves (first four, last one).
fn allocate_ip(st: &State, subnet: &Value, subnet_id: &str) -> Result<String, ApiError> {
    let prefix = prop_str(subnet, "addressPrefix")
        .or_else(|| {
            subnet
                .pointer("/properties/addressPrefixes/0")
                .and_then(Value::as_str)
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "SubnetHasNoAddressPrefix",
                "The subnet has no address prefix.",
            )
        })?;
    let (base, last) = cidr(prefix).ok_or_else(|| {
        ApiError::bad_request("InvalidAddressPrefix", format!("Invalid prefix {prefix}."))
    })?;
    let used: BTreeSet<String> = st
        .of_type(PE_TYPE)
        .filter(|pe| {
            pe.pointer("/properties/subnet/id")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case(subnet_id))
        })
        .filter_map(pe_ip)
        .collect();
    (base + 4..last)
        .map(|n| Ipv4Addr::from(n).to_string())
        .find(|ip| !used.contains(ip))
        .ok_or_else(|| {
            ApiError::bad_request(
                "SubnetIsFull",
                format!("Subnet {subnet_id} has no free address."),
            )
        })
}

fn prepare_pe(
    cx: &mut Cx,
    id: &ResId,
    mut body: Value,
    existing: Option<&Value>,
) -> Result<Value, ApiError> {
    let subnet_id = body
        .pointer("/properties/subnet/id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::bad_request("InvalidRequestFormat", "properties.subnet.id is required.")
        })?;
    let subnet = cx
        .st
        .get(&subnet_id)
        .cloned()
        .ok_or_else(|| ApiError::invalid_reference(&id.display(), &subnet_id))?;
    if !is_settled(&subnet) {
        return Err(ApiError::new(
            429,
            "RetryableError",
            format!(
                "Subnet {subnet_id} is not in Succeeded state (ReferencedResourceNotProvisioned)."
            ),
        )
        .with_header("Retry-After", "10"));
    }
    let display = id.display();
    let mut dns_configs = Vec::new();
    let mut any = false;
    let ip = match existing.and_then(pe_ip) {
        Some(ip) => ip,
        None => match body
            .pointer("/properties/ipConfigurations/0/properties/privateIPAddress")
            .and_then(Value::as_str)
        {
            Some(ip) => ip.to_string(),
            None => allocate_ip(cx.st, &subnet, &subnet_id)?,
        },
    };
    for list in CONN_LISTS {
        let manual = list.starts_with("manual");
        let conns = body
            .pointer(&format!("/properties/{list}"))
            .cloned()
            .unwrap_or(json!([]));
        let mut out = Vec::new();
        for (i, mut c) in conns
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            any = true;
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}-{i}", id.name()));
            let target = c
                .pointer("/properties/privateLinkServiceId")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "InvalidRequestFormat",
                        "privateLinkServiceId is required.",
                    )
                })?;
            let tbody = cx
                .st
                .get(&target)
                .cloned()
                .ok_or_else(|| ApiError::invalid_reference(&display, &target))?;
            let group = c
                .pointer("/properties/groupIds/0")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string();
            if is_type(&tbody, ACCOUNT_TYPE) {
                if cx.cfg.conflicts.account_state_check && !is_settled(&tbody) {
                    return Err(ApiError::new(cx.cfg.conflicts.account_state_status, "AccountProvisioningStateInvalid", format!("Account {target} is in state {} and cannot accept private endpoint connections.", provisioning_state(&tbody).unwrap_or("?"))));
                }
                let Some(sub) = prop_str(&tbody, "customSubDomainName") else {
                    return Err(ApiError::bad_request("CustomSubdomainRequired", format!("Account {target} has no customSubDomainName; a private endpoint requires one.")));
                };
                if !group.eq_ignore_ascii_case("account") {
                    return Err(ApiError::bad_request(
                        "InvalidGroupIds",
                        format!("Group id '{group}' is not supported; use 'account'."),
                    ));
                }
                for z in required_zones(tbody["kind"].as_str().unwrap_or("")) {
                    let fqdn = format!("{sub}.{}", z.trim_start_matches("privatelink."));
                    dns_configs.push(json!({ "fqdn": fqdn, "ipAddresses": [ip] }));
                }
            } else {
                let tname = tbody["name"].as_str().unwrap_or("target");
                dns_configs.push(json!({ "fqdn": format!("{tname}.{group}.privatelink.azure.net"), "ipAddresses": [ip] }));
            }
            let previous = existing
                .and_then(|e| e.pointer(&format!("/properties/{list}")))
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|p| p["name"].as_str() == Some(name.as_str())))
                .and_then(|p| p.pointer("/properties/privateLinkServiceConnectionState"))
                .cloned();
            let state = previous.unwrap_or_else(|| {
                if manual {
                    let msg = c
                        .pointer("/properties/requestMessage")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    conn_state("Pending", msg)
                } else {
                    conn_state("Approved", "Auto-Approved")
                }
            });
            c["name"] = json!(name);
            c["id"] = json!(format!("{display}/{list}/{name}"));
            c["type"] = json!(format!("{PE_TYPE}/{list}"));
            c["etag"] = json!(cx.st.etag(EtagStyle::Network, cx.now));
            let p = props(&mut c);
            p.insert("privateLinkServiceConnectionState".into(), state);
            p.insert("provisioningState".into(), json!("Succeeded"));
            out.push(c);
        }
        props(&mut body).insert(list.into(), json!(out));
    }
    if !any {
        return Err(ApiError::bad_request("PrivateEndpointMustHaveConnection", "A private endpoint needs a privateLinkServiceConnection or a manualPrivateLinkServiceConnection."));
    }
    let nic_name = prop_str(&body, "customNetworkInterfaceName")
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "{}.nic.{}",
                id.name(),
                &uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, id.key().as_bytes())
                    .simple()
                    .to_string()[..8]
            )
        });
    let nic = format!("/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/networkInterfaces/{nic_name}", id.sub, id.rg.as_deref().unwrap_or(""));
    let p = props(&mut body);
    p.insert("networkInterfaces".into(), json!([{ "id": nic }]));
    p.insert("customDnsConfigs".into(), json!(dns_configs));
    p.entry("applicationSecurityGroups").or_insert(json!([]));
    p.entry("ipConfigurations").or_insert(json!([]));
    p.insert("subnet".into(), json!({ "id": subnet["id"] }));
    Ok(body)
}

fn pec_name(pe_key: &str, pe_name: &str) -> String {
    let g = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, pe_key.as_bytes())
        .simple()
        .to_string();
    format!("{pe_name}.{}", &g[..8])
}

fn after_commit_pe(cx: &mut Cx, id: &ResId, body: &Value) {
    let display = id.display();
    for list in CONN_LISTS {
        for c in body
            .pointer(&format!("/properties/{list}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let Some(target) = c
                .pointer("/properties/privateLinkServiceId")
                .and_then(Value::as_str)
            else {
                continue;
            };
            let Some(acct) = cx
                .st
                .get(target)
                .cloned()
                .filter(|t| is_type(t, ACCOUNT_TYPE))
            else {
                continue;
            };
            let acct_id = acct["id"].as_str().unwrap_or_default().to_string();
            let exists = cx
                .st
                .children(&acct_id, "privateEndpointConnections")
                .iter()
                .any(|p| {
                    p.pointer("/properties/privateEndpoint/id")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case(&display))
                });
            if exists {
                continue;
            }
            let name = pec_name(&id.key(), id.name());
            let etag = cx.st.etag(EtagStyle::CognitiveServices, cx.now);
            cx.st.insert(json!({
                "id": format!("{acct_id}/privateEndpointConnections/{name}"),
                "name": name,
                "type": PEC_TYPE,
                "location": acct["location"],
                "etag": etag,
                "properties": {
                    "privateEndpoint": { "id": display },
                    "privateLinkServiceConnectionState": c.pointer("/properties/privateLinkServiceConnectionState").cloned().unwrap_or(Value::Null),
                    "groupIds": ["account"],
                    "provisioningState": "Succeeded"
                }
            }));
        }
    }
    if let (Some(nic), Some(ip)) = (
        body.pointer("/properties/networkInterfaces/0/id")
            .and_then(Value::as_str),
        pe_ip(body),
    ) {
        let name = nic.rsplit('/').next().unwrap_or_default();
        cx.st.insert(json!({
            "id": nic, "name": name, "type": "Microsoft.Network/networkInterfaces", "location": body["location"],
            "properties": {
                "provisioningState": "Succeeded",
                "ipConfigurations": [{ "name": "privateEndpointIpConfig", "properties": {
                    "privateIPAddress": ip, "privateIPAllocationMethod": "Dynamic",
                    "subnet": { "id": body.pointer("/properties/subnet/id") } } }],
                "privateEndpoint": { "id": display }
            }
        }));
    }
}

fn after_delete_pe(cx: &mut Cx, body: &Value) {
    let display = body["id"].as_str().unwrap_or_default();
    let pecs: Vec<String> = cx
        .st
        .of_type(PEC_TYPE)
        .filter(|p| {
            p.pointer("/properties/privateEndpoint/id")
                .and_then(Value::as_str)
                .is_some_and(|x| x.eq_ignore_ascii_case(display))
        })
        .filter_map(|p| p["id"].as_str().map(str::to_string))
        .collect();
    for k in pecs {
        cx.st.remove(&k);
    }
    if let Some(nic) = body
        .pointer("/properties/networkInterfaces/0/id")
        .and_then(Value::as_str)
    {
        cx.st.remove(nic);
    }
}

/// A records (label, ip) a zone group writes for its endpoint.
fn records_for(pe: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for c in pe
        .pointer("/properties/customDnsConfigs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let label = c["fqdn"]
            .as_str()
            .unwrap_or_default()
            .split('.')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if let Some(ip) = c.pointer("/ipAddresses/0").and_then(Value::as_str) {
            if !label.is_empty() && !out.iter().any(|(l, _)| *l == label) {
                out.push((label, ip.to_string()));
            }
        }
    }
    out
}

fn prepare_zone_group(
    cx: &mut Cx,
    id: &ResId,
    mut body: Value,
    existing: Option<&Value>,
) -> Result<Value, ApiError> {
    let pe = cx
        .st
        .get(&id.parent().expect("zone groups have a parent").key())
        .cloned()
        .unwrap_or(Value::Null);
    let records = records_for(&pe);
    let mut configs = body
        .pointer("/properties/privateDnsZoneConfigs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, c) in configs.iter_mut().enumerate() {
        let zone_id = c
            .pointer("/properties/privateDnsZoneId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "InvalidRequestFormat",
                    "privateDnsZoneConfigs[].properties.privateDnsZoneId is required.",
                )
            })?;
        let zone = cx
            .st
            .get(&zone_id)
            .cloned()
            .ok_or_else(|| ApiError::invalid_reference(&id.display(), &zone_id))?;
        let zone_name = zone["name"].as_str().unwrap_or_default().to_string();
        if c.get("name").is_none() {
            c["name"] = json!(
                zone_name
                    .replace('.', "-")
                    .chars()
                    .take(80)
                    .collect::<String>()
                    + &format!("-{i}")
            );
        }
        let sets: Vec<Value> = records.iter().map(|(label, ip)| json!({
            "recordType": "A", "recordSetName": label, "fqdn": format!("{label}.{zone_name}"),
            "ttl": 10, "ipAddresses": [ip], "provisioningState": "Succeeded"
        })).collect();
        c["properties"]["privateDnsZoneId"] = zone["id"].clone();
        c["properties"]["recordSets"] = json!(sets);
    }
    props(&mut body).insert("privateDnsZoneConfigs".into(), json!(configs));
    if let Some(old) = existing {
        after_delete_zone_group(cx, old);
    }
    Ok(body)
}

fn zone_configs(group: &Value) -> Vec<(String, Vec<(String, String)>)> {
    group
        .pointer("/properties/privateDnsZoneConfigs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let zone = c
                .pointer("/properties/privateDnsZoneId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let sets = c
                .pointer("/properties/recordSets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| {
                    Some((
                        s["recordSetName"].as_str()?.to_string(),
                        s.pointer("/ipAddresses/0")?.as_str()?.to_string(),
                    ))
                })
                .collect();
            (zone, sets)
        })
        .collect()
}

fn after_commit_zone_group(cx: &mut Cx, body: &Value) {
    for (zone_id, sets) in zone_configs(body) {
        let Some(zone) = cx.st.get(&zone_id).cloned() else {
            continue;
        };
        let zid = zone["id"].as_str().unwrap_or_default().to_string();
        let zname = zone["name"].as_str().unwrap_or_default().to_string();
        for (label, ip) in sets {
            let rid = format!("{zid}/A/{label}");
            let mut rec = cx.st.get(&rid).cloned().unwrap_or_else(|| json!({
                "id": rid, "name": label, "type": "Microsoft.Network/privateDnsZones/A",
                "properties": { "ttl": 10, "fqdn": format!("{label}.{zname}."), "isAutoRegistered": false, "aRecords": [] }
            }));
            let arr = rec["properties"]["aRecords"]
                .as_array_mut()
                .expect("created above");
            if !arr
                .iter()
                .any(|a| a["ipv4Address"].as_str() == Some(ip.as_str()))
            {
                arr.push(json!({ "ipv4Address": ip }));
            }
            rec["etag"] = json!(cx.st.etag(EtagStyle::PrivateDns, cx.now));
            cx.st.insert(rec);
        }
    }
}

/// Remove the A records a zone group wrote (an emptied record set is deleted).
fn after_delete_zone_group(cx: &mut Cx, body: &Value) {
    for (zone_id, sets) in zone_configs(body) {
        for (label, ip) in sets {
            let rid = format!("{zone_id}/A/{label}");
            let Some(mut rec) = cx.st.get(&rid).cloned() else {
                continue;
            };
            if let Some(arr) = rec
                .pointer_mut("/properties/aRecords")
                .and_then(Value::as_array_mut)
            {
                arr.retain(|a| a["ipv4Address"].as_str() != Some(ip.as_str()));
                if arr.is_empty() {
                    cx.st.remove(&rid);
                    continue;
                }
            }
            cx.st.insert(rec);
        }
    }
}

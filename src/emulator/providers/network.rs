//! Microsoft.Network virtual networks, subnets, network security groups and security rules.
//! Inline `subnets` / `securityRules` arrays are stored as child resources (one source of
//! truth) and rendered back into the parent, so a parent PUT replaces the full set as in Azure.

use serde_json::{json, Value};

use crate::emulator::config::{EmulatorConfig, LroStyle};
use crate::emulator::cx::Cx;
use crate::emulator::error::{ApiError, HResult, Reply};
use crate::emulator::ids::{required_location, ResId};
use crate::emulator::provider::{Info, Provider, Request, Write};
use crate::emulator::spec::{Lock, Spec, TypeDef};
use crate::emulator::store::{is_type, prop_str, props, EtagStyle, State};

const VNET_TYPE: &str = "Microsoft.Network/virtualNetworks";
const SUBNET_TYPE: &str = "Microsoft.Network/virtualNetworks/subnets";
const NSG_TYPE: &str = "Microsoft.Network/networkSecurityGroups";
const RULE_TYPE: &str = "Microsoft.Network/networkSecurityGroups/securityRules";
const DEFAULT_RULE_TYPE: &str = "Microsoft.Network/networkSecurityGroups/defaultSecurityRules";
/// Private endpoints (served by the private endpoint provider) sit in subnets.
const PE_TYPE: &str = "Microsoft.Network/privateEndpoints";

/// Microsoft.Network's writes: 201/200 with `Updating` and Azure-AsyncOperation, 202 deletes,
/// `W/"guid"` etags; PATCH is UpdateTags.
pub const NET: Spec = Spec {
    put: LroStyle::AsyncBody,
    patch: Some(LroStyle::Sync),
    delete: LroStyle::Accepted,
    etag: EtagStyle::Network,
    has_state: true,
    creating: "Updating",
    updating: "Updating",
    ..Spec::SYNC
};

pub const API_VERSIONS: &[&str] = &[
    "2022-07-01",
    "2022-09-01",
    "2022-11-01",
    "2023-02-01",
    "2023-04-01",
    "2023-05-01",
    "2023-06-01",
    "2023-09-01",
    "2023-11-01",
    "2024-01-01",
    "2024-03-01",
    "2024-05-01",
    "2024-07-01",
    "2024-10-01",
    "2025-01-01",
    "2025-03-01",
    "2025-05-01",
    "2025-07-01",
    "2025-09-01",
    // azure-mgmt-network 33.1.0 sends 2026-03-01 by default.
    "2026-01-01",
    "2026-03-01",
];

const TYPES: &[TypeDef] = &[
    TypeDef {
        name: VNET_TYPE,
        spec: NET,
        lock: Some(Lock::AnotherOperationInProgress),
        seed_rank: 4,
        known: Some(&super::shapes::VNET),
        ..TypeDef::BASE
    },
    TypeDef {
        name: SUBNET_TYPE,
        spec: Spec { patch: None, ..NET },
        lock: Some(Lock::AnotherOperationInProgress),
        seed_rank: 4,
        known: Some(&super::shapes::SUBNET),
        ..TypeDef::BASE
    },
    TypeDef {
        name: NSG_TYPE,
        spec: NET,
        seed_rank: 3,
        known: Some(&super::shapes::NSG),
        ..TypeDef::BASE
    },
    TypeDef {
        name: RULE_TYPE,
        spec: Spec { patch: None, ..NET },
        seed_rank: 3,
        known: Some(&super::shapes::SECURITY_RULE),
        ..TypeDef::BASE
    },
    TypeDef {
        name: DEFAULT_RULE_TYPE,
        ..TypeDef::BASE
    },
];

const INFO: Info = Info {
    namespace: "Microsoft.Network",
    api_versions: API_VERSIONS,
    types: TYPES,
};

pub struct Network;

impl Provider for Network {
    fn info(&self) -> &'static Info {
        &INFO
    }

    /// GET `{nsg}/defaultSecurityRules[/{name}]`.
    fn serve(&self, cx: &mut Cx, req: &Request) -> Option<HResult> {
        let id = req.id().filter(|id| id.is(DEFAULT_RULE_TYPE))?;
        Some(default_rule_reply(cx.st, id).map(|b| Reply::json(200, b)))
    }

    fn prepare(&self, cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let Write { id, body, existing } = w;
        match id.full_type.as_str() {
            VNET_TYPE => prepare_vnet(cx, id, body, existing),
            SUBNET_TYPE => prepare_subnet(cx, id, body),
            NSG_TYPE => prepare_nsg(cx, body, existing),
            _ => prepare_rule(cx, id, body),
        }
    }

    /// UpdateTags: only tags change; inline children must survive the re-validation.
    fn patch_body(&self, cx: &Cx, existing: &Value, patch: &Value) -> Result<Value, ApiError> {
        let key = existing["id"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut out = crate::emulator::provider::render(cx.st, cx.cfg, &key);
        if let Some(t) = patch.get("tags") {
            out["tags"] = t.clone();
        }
        if let Some(p) = out.get_mut("properties").and_then(Value::as_object_mut) {
            p.remove("defaultSecurityRules");
        }
        Ok(out)
    }

    fn after_commit(&self, cx: &mut Cx, id: &ResId, body: &Value) {
        match id.full_type.as_str() {
            VNET_TYPE => replace_children(cx, body, "subnets", SUBNET_TYPE),
            NSG_TYPE => replace_children(cx, body, "securityRules", RULE_TYPE),
            _ => {}
        }
    }

    fn before_delete(&self, cx: &mut Cx, id: &ResId, body: &Value) -> Result<(), ApiError> {
        match id.full_type.as_str() {
            SUBNET_TYPE => check_subnet_free(cx.st, body),
            VNET_TYPE => {
                for s in cx.st.children(&id.key(), "subnets") {
                    check_subnet_free(cx.st, &s)?;
                }
                Ok(())
            }
            NSG_TYPE => before_delete_nsg(cx.st, body),
            _ => Ok(()),
        }
    }

    fn render(&self, st: &State, _cfg: &EmulatorConfig, key: &str, body: &mut Value) {
        if is_type(body, VNET_TYPE) {
            render_vnet(st, key, body);
        } else if is_type(body, SUBNET_TYPE) {
            render_subnet(st, body);
        } else if is_type(body, NSG_TYPE) {
            render_nsg(st, key, body);
        }
    }
}

/// Private endpoints placed in a subnet (back-references shown on the subnet).
pub fn endpoints_in_subnet(st: &State, subnet_id: &str) -> Vec<Value> {
    st.of_type(PE_TYPE)
        .filter(|pe| {
            pe.pointer("/properties/subnet/id")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case(subnet_id))
        })
        .map(|pe| json!({ "id": pe["id"] }))
        .collect()
}

fn bad(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

fn require_location(body: &mut Value, existing: Option<&Value>) -> Result<(), ApiError> {
    body["location"] = json!(required_location(body, existing)?);
    Ok(())
}

fn resource_guid(cx: &mut Cx, body: &mut Value, existing: Option<&Value>) {
    let g = existing
        .and_then(|e| prop_str(e, "resourceGuid"))
        .map(str::to_string)
        .unwrap_or_else(|| cx.st.new_guid("resourceGuid"));
    props(body).insert("resourceGuid".into(), json!(g));
}

/// Subnet validation and defaults, shared by inline and standalone subnets.
fn subnet_body(st: &State, vnet_location: &str, mut body: Value) -> Result<Value, ApiError> {
    if prop_str(&body, "addressPrefix").is_none()
        && body.pointer("/properties/addressPrefixes/0").is_none()
    {
        return Err(bad(
            "InvalidRequestFormat",
            "A subnet needs addressPrefix or addressPrefixes.",
        ));
    }
    if let Some(nsg) = body
        .pointer("/properties/networkSecurityGroup/id")
        .and_then(Value::as_str)
    {
        let stored = st
            .get(nsg)
            .ok_or_else(|| ApiError::invalid_reference("subnet", nsg))?;
        body["properties"]["networkSecurityGroup"] = json!({ "id": stored["id"] });
    }
    let p = props(&mut body);
    // Back-references are derived on every read; a GET → PUT round trip must not freeze them.
    p.remove("privateEndpoints");
    p.remove("ipConfigurations");
    p.entry("privateEndpointNetworkPolicies")
        .or_insert(json!("Disabled"));
    p.entry("privateLinkServiceNetworkPolicies")
        .or_insert(json!("Enabled"));
    p.entry("delegations").or_insert(json!([]));
    if let Some(eps) = p.get_mut("serviceEndpoints").and_then(Value::as_array_mut) {
        for e in eps {
            e["locations"] = json!([vnet_location]);
            e["provisioningState"] = json!("Succeeded");
        }
    }
    Ok(body)
}

fn vnet_location(st: &State, vnet_key: &str) -> String {
    st.get(vnet_key)
        .and_then(|v| v["location"].as_str())
        .unwrap_or("global")
        .to_string()
}

fn check_subnet_free(st: &State, subnet: &Value) -> Result<(), ApiError> {
    let id = subnet["id"].as_str().unwrap_or_default();
    if endpoints_in_subnet(st, id).is_empty() {
        Ok(())
    } else {
        Err(bad(
            "InUseSubnetCannotBeDeleted",
            format!(
                "Subnet {} is in use by private endpoints and cannot be deleted.",
                subnet["name"].as_str().unwrap_or("")
            ),
        ))
    }
}

fn prepare_vnet(
    cx: &mut Cx,
    id: &ResId,
    mut body: Value,
    existing: Option<&Value>,
) -> Result<Value, ApiError> {
    require_location(&mut body, existing)?;
    if body
        .pointer("/properties/addressSpace/addressPrefixes/0")
        .is_none()
    {
        return Err(bad(
            "InvalidRequestFormat",
            "properties.addressSpace.addressPrefixes is required.",
        ));
    }
    let loc = body["location"].as_str().unwrap_or("global").to_string();
    let wanted = body
        .pointer("/properties/subnets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for s in &wanted {
        if s.get("name").and_then(Value::as_str).is_none() {
            return Err(bad(
                "InvalidRequestFormat",
                "Every inline subnet needs a name.",
            ));
        }
        subnet_body(cx.st, &loc, s.clone())?;
    }
    // Subnets left out of the array are deleted, which fails if they are in use.
    for old in cx.st.children(&id.key(), "subnets") {
        let keep = wanted.iter().any(|s| {
            s["name"].as_str().is_some_and(|n| {
                old["name"]
                    .as_str()
                    .is_some_and(|o| o.eq_ignore_ascii_case(n))
            })
        });
        if !keep {
            check_subnet_free(cx.st, &old)?;
        }
    }
    props(&mut body).insert("subnets".into(), json!(wanted));
    resource_guid(cx, &mut body, existing);
    props(&mut body)
        .entry("enableDdosProtection")
        .or_insert(json!(false));
    Ok(body)
}

/// Store inline children as resources and drop the inline array from the parent.
fn replace_children(cx: &mut Cx, parent: &Value, list: &str, child_type: &str) {
    let parent_id = parent["id"].as_str().unwrap_or_default().to_string();
    let loc = parent["location"].as_str().unwrap_or("global").to_string();
    let wanted = parent
        .pointer(&format!("/properties/{list}"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let seg = child_type.rsplit('/').next().unwrap_or(list);
    for old in cx.st.children(&parent_id, seg) {
        let name = old["name"].as_str().unwrap_or_default();
        if !wanted.iter().any(|w| {
            w["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        }) {
            cx.st.remove(old["id"].as_str().unwrap_or_default());
        }
    }
    for w in wanted {
        let name = w["name"].as_str().unwrap_or_default().to_string();
        let mut child = if child_type == SUBNET_TYPE {
            subnet_body(cx.st, &loc, w).unwrap_or_else(|_| json!({}))
        } else {
            w
        };
        child["id"] = json!(format!("{parent_id}/{seg}/{name}"));
        child["name"] = json!(name);
        child["type"] = json!(child_type);
        child["etag"] = json!(cx.st.etag(EtagStyle::Network, cx.now));
        props(&mut child).insert("provisioningState".into(), json!("Succeeded"));
        cx.st.insert(child);
    }
    let mut p = parent.clone();
    props(&mut p).remove(list);
    cx.st.insert(p);
}

fn prepare_subnet(cx: &mut Cx, id: &ResId, body: Value) -> Result<Value, ApiError> {
    let vnet = id.parent().expect("subnets have a parent").key();
    let loc = vnet_location(cx.st, &vnet);
    subnet_body(cx.st, &loc, body)
}

fn render_vnet(st: &State, key: &str, body: &mut Value) {
    let subnets: Vec<Value> = st
        .children(key, "subnets")
        .into_iter()
        .map(|mut s| {
            render_subnet(st, &mut s);
            s
        })
        .collect();
    props(body).insert("subnets".into(), json!(subnets));
}

fn render_subnet(st: &State, body: &mut Value) {
    let pes = endpoints_in_subnet(st, body["id"].as_str().unwrap_or_default());
    if !pes.is_empty() {
        props(body).insert("privateEndpoints".into(), json!(pes));
    }
}

fn rule_body(mut body: Value) -> Result<Value, ApiError> {
    let p = body.get("properties").cloned().unwrap_or(json!({}));
    let priority = p.get("priority").and_then(Value::as_u64).ok_or_else(|| {
        bad(
            "SecurityRuleInvalidPriority",
            "Security rule priority is required.",
        )
    })?;
    if !(100..=4096).contains(&priority) {
        return Err(bad("SecurityRuleInvalidPriority", format!("Security rule has invalid Priority {priority}. Value provided: {priority} Allowed range 100-4096.")));
    }
    let check = |field: &str, allowed: &[&str]| -> Result<(), ApiError> {
        match p.get(field).and_then(Value::as_str) {
            Some(v) if allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) => Ok(()),
            other => Err(bad(
                "InvalidRequestFormat",
                format!("Security rule {field} {other:?} is invalid; allowed: {allowed:?}."),
            )),
        }
    };
    check("direction", &["Inbound", "Outbound"])?;
    check("access", &["Allow", "Deny"])?;
    check("protocol", &["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"])?;
    props(&mut body)
        .entry("sourcePortRange")
        .or_insert(json!("*"));
    Ok(body)
}

fn check_unique_priorities(rules: &[Value]) -> Result<(), ApiError> {
    for (i, a) in rules.iter().enumerate() {
        for b in &rules[i + 1..] {
            let same = |f: &str| {
                a.pointer(&format!("/properties/{f}")) == b.pointer(&format!("/properties/{f}"))
            };
            if same("priority") && same("direction") && a["name"] != b["name"] {
                return Err(bad(
                    "SecurityRuleConflict",
                    format!(
                        "Security rules {} and {} have the same priority and direction.",
                        a["name"], b["name"]
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn prepare_nsg(cx: &mut Cx, mut body: Value, existing: Option<&Value>) -> Result<Value, ApiError> {
    require_location(&mut body, existing)?;
    let rules = body
        .pointer("/properties/securityRules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut checked = Vec::new();
    for r in rules {
        if r.get("name").and_then(Value::as_str).is_none() {
            return Err(bad(
                "InvalidRequestFormat",
                "Every inline security rule needs a name.",
            ));
        }
        checked.push(rule_body(r)?);
    }
    check_unique_priorities(&checked)?;
    let p = props(&mut body);
    p.insert("securityRules".into(), json!(checked));
    for derived in ["defaultSecurityRules", "subnets", "networkInterfaces"] {
        p.remove(derived);
    }
    resource_guid(cx, &mut body, existing);
    Ok(body)
}

fn prepare_rule(cx: &mut Cx, id: &ResId, body: Value) -> Result<Value, ApiError> {
    let body = rule_body(body)?;
    let nsg = id.parent().expect("rules have a parent").key();
    let mut all: Vec<Value> = cx
        .st
        .children(&nsg, "securityRules")
        .into_iter()
        .filter(|r| {
            !r["name"]
                .as_str()
                .unwrap_or_default()
                .eq_ignore_ascii_case(id.name())
        })
        .collect();
    let mut me = body.clone();
    me["name"] = json!(id.name());
    all.push(me);
    check_unique_priorities(&all)?;
    Ok(body)
}

/// The six rules every NSG has: (name, priority, direction, access, source, destination,
/// description).
#[rustfmt::skip]
const DEFAULT_RULES: &[(&str, u32, &str, &str, &str, &str, &str)] = &[
    ("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork", "Allow inbound traffic from all VMs in VNET"),
    ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*", "Allow inbound traffic from azure load balancer"),
    ("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*", "Deny all inbound traffic"),
    ("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork", "Allow outbound traffic from all VMs to all VMs in VNET"),
    ("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet", "Allow outbound traffic from all VMs to Internet"),
    ("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*", "Deny all outbound traffic"),
];

fn default_rules(nsg_id: &str) -> Vec<Value> {
    DEFAULT_RULES
        .iter()
        .map(|(name, prio, dir, access, src, dst, desc)| {
            json!({
                "name": name,
                "id": format!("{nsg_id}/defaultSecurityRules/{name}"),
                "type": DEFAULT_RULE_TYPE,
                "properties": {
                    "provisioningState": "Succeeded", "description": desc, "protocol": "*",
                    "sourcePortRange": "*", "destinationPortRange": "*",
                    "sourceAddressPrefix": src, "destinationAddressPrefix": dst,
                    "access": access, "priority": prio, "direction": dir,
                    "sourcePortRanges": [], "destinationPortRanges": [],
                    "sourceAddressPrefixes": [], "destinationAddressPrefixes": []
                }
            })
        })
        .collect()
}

fn subnets_using(st: &State, nsg_id: &str) -> Vec<Value> {
    st.of_type(SUBNET_TYPE)
        .filter(|s| {
            s.pointer("/properties/networkSecurityGroup/id")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(nsg_id))
        })
        .map(|s| json!({ "id": s["id"] }))
        .collect()
}

fn render_nsg(st: &State, key: &str, body: &mut Value) {
    let id = body["id"].as_str().unwrap_or_default().to_string();
    let subnets = subnets_using(st, &id);
    let p = props(body);
    p.insert(
        "securityRules".into(),
        json!(st.children(key, "securityRules")),
    );
    p.insert("defaultSecurityRules".into(), json!(default_rules(&id)));
    if !subnets.is_empty() {
        p.insert("subnets".into(), json!(subnets));
    }
}

fn before_delete_nsg(st: &State, body: &Value) -> Result<(), ApiError> {
    if subnets_using(st, body["id"].as_str().unwrap_or_default()).is_empty() {
        Ok(())
    } else {
        Err(bad(
            "InUseNetworkSecurityGroupCannotBeDeleted",
            format!(
                "Network security group {} cannot be deleted because it is in use by subnets.",
                body["id"].as_str().unwrap_or_default()
            ),
        ))
    }
}

/// GET `{nsg}/defaultSecurityRules[/{name}]`.
fn default_rule_reply(st: &State, id: &ResId) -> Result<Value, ApiError> {
    let nsg = id
        .parent()
        .ok_or_else(|| ApiError::not_found(&id.display()))?;
    let stored = st
        .get(&nsg.key())
        .ok_or_else(|| ApiError::not_found(&nsg.display()))?;
    let rules = default_rules(stored["id"].as_str().unwrap_or_default());
    if !id.is_instance() {
        return Ok(json!({ "value": rules }));
    }
    rules
        .into_iter()
        .find(|r| {
            r["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(id.name()))
        })
        .ok_or_else(|| ApiError::not_found(&id.display()))
}

//! Microsoft.Network virtual networks, subnets, network security groups and security rules.
//! Inline `subnets` / `securityRules` arrays are stored as child resources (one source of
//! truth) and rendered back into the parent, so a parent PUT replaces the full set as in Azure.

use serde_json::{json, Value};

use super::endpoints::endpoints_in_subnet;
use super::engine::Cx;
use super::error::ApiError;
use super::ids::{parse_id, ResId};
use super::store::{prop_str, props, EtagStyle, State};

const SUBNET_TYPE: &str = "Microsoft.Network/virtualNetworks/subnets";
const RULE_TYPE: &str = "Microsoft.Network/networkSecurityGroups/securityRules";

fn bad(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

fn require_location(body: &mut Value, existing: Option<&Value>) -> Result<(), ApiError> {
    let loc = body
        .get("location")
        .or_else(|| existing.and_then(|e| e.get("location")))
        .and_then(Value::as_str)
        .map(super::ids::normalize_location)
        .ok_or_else(|| {
            bad(
                "LocationRequired",
                "The location property is required for this definition.",
            )
        })?;
    body["location"] = json!(loc);
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

pub fn prepare_vnet(
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

pub fn after_commit_vnet(cx: &mut Cx, body: &Value) {
    replace_children(cx, body, "subnets", SUBNET_TYPE);
}

pub fn prepare_subnet(cx: &mut Cx, id: &ResId, body: Value) -> Result<Value, ApiError> {
    let vnet = id.parent().expect("subnets have a parent").key();
    let loc = vnet_location(cx.st, &vnet);
    subnet_body(cx.st, &loc, body)
}

pub fn render_vnet(st: &State, key: &str, body: &mut Value) {
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

pub fn render_subnet(st: &State, body: &mut Value) {
    let pes = endpoints_in_subnet(st, body["id"].as_str().unwrap_or_default());
    if !pes.is_empty() {
        props(body).insert("privateEndpoints".into(), json!(pes));
    }
}

pub fn before_delete_subnet(st: &State, body: &Value) -> Result<(), ApiError> {
    check_subnet_free(st, body)
}

pub fn before_delete_vnet(st: &State, key: &str) -> Result<(), ApiError> {
    for s in st.children(key, "subnets") {
        check_subnet_free(st, &s)?;
    }
    Ok(())
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

pub fn prepare_nsg(
    cx: &mut Cx,
    _id: &ResId,
    mut body: Value,
    existing: Option<&Value>,
) -> Result<Value, ApiError> {
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

pub fn after_commit_nsg(cx: &mut Cx, body: &Value) {
    replace_children(cx, body, "securityRules", RULE_TYPE);
}

pub fn prepare_rule(cx: &mut Cx, id: &ResId, body: Value) -> Result<Value, ApiError> {
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

/// The six rules every NSG has.
pub fn default_rules(nsg_id: &str) -> Vec<Value> {
    let rules = [
        (
            "AllowVnetInBound",
            65000,
            "Inbound",
            "Allow",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow inbound traffic from all VMs in VNET",
        ),
        (
            "AllowAzureLoadBalancerInBound",
            65001,
            "Inbound",
            "Allow",
            "AzureLoadBalancer",
            "*",
            "Allow inbound traffic from azure load balancer",
        ),
        (
            "DenyAllInBound",
            65500,
            "Inbound",
            "Deny",
            "*",
            "*",
            "Deny all inbound traffic",
        ),
        (
            "AllowVnetOutBound",
            65000,
            "Outbound",
            "Allow",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow outbound traffic from all VMs to all VMs in VNET",
        ),
        (
            "AllowInternetOutBound",
            65001,
            "Outbound",
            "Allow",
            "*",
            "Internet",
            "Allow outbound traffic from all VMs to Internet",
        ),
        (
            "DenyAllOutBound",
            65500,
            "Outbound",
            "Deny",
            "*",
            "*",
            "Deny all outbound traffic",
        ),
    ];
    rules
        .iter()
        .map(|(name, prio, dir, access, src, dst, desc)| {
            json!({
                "name": name,
                "id": format!("{nsg_id}/defaultSecurityRules/{name}"),
                "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
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

pub fn render_nsg(st: &State, key: &str, body: &mut Value) {
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

pub fn before_delete_nsg(st: &State, body: &Value) -> Result<(), ApiError> {
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
pub fn default_rule_reply(st: &State, id: &ResId) -> Result<Value, ApiError> {
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

pub fn is_subnet_id(id: &str) -> bool {
    parse_id(id).is_some_and(|r| r.full_type == SUBNET_TYPE)
}

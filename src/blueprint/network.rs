//! Network controls N1–N6: private endpoint, private DNS, zone group, NSG rules, account firewall,
//! outbound restriction.

use super::context::{at, control, declared, flag, items, text, texts, val, value_at, Ctx};
use super::formats::{parse_arm_id, ArmKind, VNET_PLACEHOLDER};
use super::resolved::{self as r, Instance};
use super::schema::{
    ExceptionKind, DNS_ZONES, DNS_ZONE_GROUP, EXISTING, NETWORK_ACCESS, NSG, NSG_RULE, OUTBOUND,
    PRIVATE_DNS, PRIVATE_ENDPOINT,
};
use super::yaml::Node;

/// The VNet link name (`{vnet}` expanded per VNet when planning). Refused when two different
/// VNets of `links` would get links of the same name: the second would silently not be created.
fn link_name(ctx: &mut Ctx, dns: &Node, links: &[String]) -> String {
    let explicit = text(dns, &PRIVATE_DNS, "linkName");
    let name = explicit
        .clone()
        .unwrap_or_else(|| format!("{VNET_PLACEHOLDER}-link"));
    let mut vnets: Vec<&str> = Vec::new();
    for l in links {
        if !vnets.iter().any(|v| v.eq_ignore_ascii_case(l)) {
            vnets.push(l);
        }
    }
    if vnets.len() < 2 {
        return name;
    }
    if explicit.is_some() && !name.contains(VNET_PLACEHOLDER) {
        ctx.error(
            &value_at(dns, "linkName"),
            format!(
                "`linkName: {name}` has no `{VNET_PLACEHOLDER}`, so the links to the {} VNets of `vnetLinks` would all get that name and only one would be created",
                vnets.len()
            ),
            Some(format!("put `{VNET_PLACEHOLDER}` in the name (it stands for each VNet's name), e.g. `linkName: \"{VNET_PLACEHOLDER}-link\"`, or drop `linkName` for that default")),
        );
        return name;
    }
    let vnet_name = |id: &str| {
        parse_arm_id(id, ArmKind::Vnet)
            .and_then(|(_, _, names)| names.into_iter().next())
            .unwrap_or_default()
    };
    for (i, id) in vnets.iter().enumerate() {
        let same = vnets[..i]
            .iter()
            .find(|other| vnet_name(other).eq_ignore_ascii_case(&vnet_name(id)));
        if let Some(other) = same {
            let loc = items(dns, &PRIVATE_DNS, "vnetLinks")
                .into_iter()
                .find(|n| n.scalar_text().is_some_and(|t| t.eq_ignore_ascii_case(id)))
                .map_or_else(|| value_at(dns, "vnetLinks"), |n| n.loc.clone());
            ctx.error(
                &loc,
                format!(
                    "VNet `{}` has the same name as `{other}`, so both links would be named `{}`",
                    id,
                    name.replace(VNET_PLACEHOLDER, &vnet_name(id))
                ),
                Some("link one of them to the zones by hand under another name and list only the other here".into()),
            );
        }
    }
    name
}

/// Prefixes that make an inbound Allow rule open to the world.
const OPEN_SOURCES: &[&str] = &["*", "Internet", "0.0.0.0/0", "::/0"];

fn vnet_of(subnet_id: &str) -> String {
    match subnet_id.rfind("/subnets/") {
        Some(i) => subnet_id[..i].to_string(),
        None => subnet_id.to_string(),
    }
}

pub fn resolve(ctx: &mut Ctx, inst: &mut Instance, controls: &Node, existing: &Node) {
    let subnet = text(existing, &EXISTING, "endpointSubnet");
    let subnet_prefix = text(existing, &EXISTING, "endpointSubnetPrefix");

    if let Some(pe) = declared(controls, "privateEndpoint") {
        if inst.custom_subdomain.is_none() {
            ctx.missing(
                "a private endpoint (controls.privateEndpoint) needs `customSubdomain`",
                "set `customSubdomain`; Azure requires it for private endpoints and Entra ID auth, and it cannot be changed once set",
            );
        }
        match &subnet {
            None => ctx.missing_existing(
                "endpointSubnet",
                "controls.privateEndpoint needs `existing.endpointSubnet`",
                "add `existing: {endpointSubnet: /subscriptions/.../virtualNetworks/VNET/subnets/SUBNET}`",
            ),
            Some(subnet_id) => {
                let spec = r::PrivateEndpoint {
                    name: text(pe, &PRIVATE_ENDPOINT, "name").unwrap_or_else(|| format!("{}-pe", inst.account_name)),
                    subscription: inst.subscription.clone(),
                    resource_group: text(pe, &PRIVATE_ENDPOINT, "resourceGroup").unwrap_or_else(|| inst.resource_group.clone()),
                    location: text(pe, &PRIVATE_ENDPOINT, "location").unwrap_or_else(|| inst.location.clone()),
                    subnet_id: subnet_id.clone(),
                    vnet_id: vnet_of(subnet_id),
                    subnet_network_policies: text(pe, &PRIVATE_ENDPOINT, "subnetNetworkPolicies"),
                };
                inst.controls.private_endpoint = control(pe, &PRIVATE_ENDPOINT, spec);
            }
        }
    }

    if let Some(dns) = declared(controls, "privateDns") {
        let zones_at = val(existing, &EXISTING, "dnsZones");
        let rg = zones_at.and_then(|z| text(z, &DNS_ZONES, "resourceGroup"));
        let mut links = texts(dns, &PRIVATE_DNS, "vnetLinks");
        if links.is_empty() {
            if let Some(s) = &subnet {
                links.push(vnet_of(s));
            }
        }
        match rg {
            None => ctx.missing_existing(
                "dnsZones",
                "controls.privateDns needs `existing.dnsZones.resourceGroup`",
                "add `existing: {dnsZones: {resourceGroup: RG}}` naming where the privatelink zones live",
            ),
            Some(_) if links.is_empty() => ctx.missing_existing(
                "endpointSubnet",
                "controls.privateDns has no VNet to link the zones to",
                "set `vnetLinks` or `existing.endpointSubnet`",
            ),
            Some(resource_group) => {
                let link_name = link_name(ctx, dns, &links);
                let spec = r::PrivateDns {
                    subscription: zones_at
                        .and_then(|z| text(z, &DNS_ZONES, "subscription"))
                        .map_or_else(|| inst.subscription.clone(), |s| s.to_lowercase()),
                    resource_group,
                    zones: texts(dns, &PRIVATE_DNS, "zones"),
                    vnet_links: links,
                    link_name,
                };
                inst.controls.private_dns = control(dns, &PRIVATE_DNS, spec);
            }
        }
    }

    if let Some(group) = declared(controls, "dnsZoneGroup") {
        if declared(controls, "privateEndpoint").is_none() {
            ctx.missing(
                "controls.dnsZoneGroup needs `controls.privateEndpoint` (the zone group lives on it)",
                "declare `privateEndpoint`, or drop the zone group with `dnsZoneGroup: ~`",
            );
        } else if declared(controls, "privateDns").is_none()
            && text(group, &DNS_ZONE_GROUP, "mode").as_deref() != Some("verify")
        {
            ctx.missing(
                "a managed controls.dnsZoneGroup needs `controls.privateDns` (the zones it points to)",
                "declare `privateDns`, or use `mode: verify` when Azure Policy owns the zone group",
            );
        }
        let spec = r::DnsZoneGroup {
            name: text(group, &DNS_ZONE_GROUP, "name").unwrap_or_else(|| "default".into()),
        };
        inst.controls.dns_zone_group = control(group, &DNS_ZONE_GROUP, spec);
    }

    if let Some(nsg) = declared(controls, "nsg") {
        let rules = nsg_rules(ctx, nsg, subnet_prefix.as_deref());
        match text(existing, &EXISTING, "nsg") {
            None => ctx.missing_existing(
                "nsg",
                "controls.nsg needs `existing.nsg`",
                "add `existing: {nsg: /subscriptions/.../networkSecurityGroups/NSG}` (the NSG on the endpoint subnet)",
            ),
            Some(nsg_id) => {
                let spec = r::Nsg {
                    nsg_id,
                    rules,
                    remove_undeclared_rules: flag(nsg, &NSG, "removeUndeclaredRules").unwrap_or(false),
                };
                inst.controls.nsg = control(nsg, &NSG, spec);
            }
        }
    }

    if let Some(na) = declared(controls, "networkAccess") {
        inst.controls.network_access = network_access(ctx, na);
    }

    if let Some(ob) = declared(controls, "outbound") {
        let restrict = flag(ob, &OUTBOUND, "restrict").unwrap_or(true);
        let fqdns = texts(ob, &OUTBOUND, "allowedFqdns");
        if !restrict {
            ctx.weak(
                ExceptionKind::OutboundUnrestricted,
                &value_at(ob, "restrict"),
                "outbound access is not restricted (`restrict: false`)".into(),
                None,
            );
            if !fqdns.is_empty() {
                ctx.error(
                    &at(ob, "allowedFqdns"),
                    "`allowedFqdns` has no effect when `restrict` is false",
                    Some("set `restrict: true` or remove the list".into()),
                );
            }
        }
        let spec = r::Outbound {
            restrict,
            allowed_fqdns: fqdns,
        };
        inst.controls.outbound = control(ob, &OUTBOUND, spec);
    }
}

fn nsg_rules(ctx: &mut Ctx, nsg: &Node, subnet_prefix: Option<&str>) -> Vec<r::NsgRule> {
    let mut rules: Vec<r::NsgRule> = Vec::new();
    let mut taken: Vec<(String, i64, String)> = Vec::new();
    let Some(entries) = val(nsg, &NSG, "rules").and_then(Node::as_map) else {
        return rules;
    };
    for (key, rule) in entries {
        let Some(priority) = val(rule, &NSG_RULE, "priority").and_then(|p| match p.kind {
            super::yaml::Kind::Int(i) => Some(i),
            _ => None,
        }) else {
            continue;
        };
        let (Some(access), false) = (
            text(rule, &NSG_RULE, "access"),
            texts(rule, &NSG_RULE, "source").is_empty(),
        ) else {
            continue;
        };
        let direction = text(rule, &NSG_RULE, "direction").unwrap_or_else(|| "Inbound".into());
        if let Some((other, _, _)) = taken
            .iter()
            .find(|(_, p, d)| *p == priority && *d == direction)
        {
            ctx.error(
                &value_at(rule, "priority"),
                format!("priority {priority} is already used by rule `{other}` ({direction})"),
                Some("priorities must be unique per direction".into()),
            );
        }
        taken.push((key.name.clone(), priority, direction.clone()));
        let source = texts(rule, &NSG_RULE, "source");
        let mut destination = texts(rule, &NSG_RULE, "destination");
        if destination.is_empty() {
            match subnet_prefix {
                Some(p) => destination.push(p.to_string()),
                None => {
                    ctx.error(&key.loc, format!("NSG rule `{}` has no `destination`", key.name), Some("set `destination`, or `existing.endpointSubnetPrefix` to default it to the endpoint subnet".into()));
                    continue;
                }
            }
        }
        if access == "Allow" && direction == "Inbound" {
            if let Some(open) = source.iter().find(|s| OPEN_SOURCES.contains(&s.as_str())) {
                ctx.weak(
                    ExceptionKind::NsgOpenInbound,
                    &value_at(rule, "source"),
                    format!(
                        "NSG rule `{}` allows inbound traffic from `{open}`",
                        key.name
                    ),
                    None,
                );
            }
        }
        let or_any = |v: Vec<String>| {
            if v.is_empty() {
                vec!["*".to_string()]
            } else {
                v
            }
        };
        rules.push(r::NsgRule {
            name: key.name.clone(),
            priority: u16::try_from(priority).unwrap_or(u16::MAX),
            direction,
            access,
            protocol: text(rule, &NSG_RULE, "protocol").unwrap_or_else(|| "*".into()),
            source_address_prefixes: source,
            source_port_ranges: or_any(texts(rule, &NSG_RULE, "sourcePorts")),
            destination_address_prefixes: destination,
            destination_port_ranges: or_any(texts(rule, &NSG_RULE, "ports")),
            description: text(rule, &NSG_RULE, "description"),
        });
    }
    rules.sort_by(|a, b| (&a.direction, a.priority).cmp(&(&b.direction, b.priority)));
    rules
}

fn network_access(ctx: &mut Ctx, na: &Node) -> Option<r::Control<r::NetworkAccess>> {
    let public =
        text(na, &NETWORK_ACCESS, "publicNetworkAccess").unwrap_or_else(|| "Disabled".into());
    let default_action =
        text(na, &NETWORK_ACCESS, "defaultAction").unwrap_or_else(|| "Deny".into());
    let bypass = text(na, &NETWORK_ACCESS, "bypass")?;
    let ip_rules = texts(na, &NETWORK_ACCESS, "ipRules");
    let vnet_rules = texts(na, &NETWORK_ACCESS, "virtualNetworkRules");
    if public == "Enabled" {
        ctx.weak(
            ExceptionKind::PublicNetworkAccess,
            &value_at(na, "publicNetworkAccess"),
            "public network access is enabled".into(),
            None,
        );
    }
    if default_action == "Allow" {
        ctx.weak(
            ExceptionKind::PublicNetworkAccess,
            &value_at(na, "defaultAction"),
            "the account firewall allows all networks (`defaultAction: Allow`)".into(),
            None,
        );
    }
    if bypass == "AzureServices" {
        ctx.weak(
            ExceptionKind::NetworkBypass,
            &value_at(na, "bypass"),
            "trusted Azure services bypass the firewall (`bypass: AzureServices`)".into(),
            None,
        );
    }
    if public == "Disabled" && (!ip_rules.is_empty() || !vnet_rules.is_empty()) {
        let key = if ip_rules.is_empty() {
            "virtualNetworkRules"
        } else {
            "ipRules"
        };
        ctx.warning(&at(na, key), format!("`{key}` have no effect while public network access is disabled"), Some("only the private endpoint is reachable; remove the rules or document why they are kept".into()));
    }
    for item in items(na, &NETWORK_ACCESS, "ipRules") {
        if let Some(s) = item.as_str() {
            if s == "0.0.0.0/0" || s == "::/0" {
                ctx.weak(
                    ExceptionKind::PublicNetworkAccess,
                    &item.loc,
                    format!("IP rule `{s}` allows every address"),
                    None,
                );
            }
        }
    }
    let spec = r::NetworkAccess {
        public_network_access: public,
        default_action,
        bypass,
        ip_rules,
        virtual_network_rules: vnet_rules,
    };
    control(na, &NETWORK_ACCESS, spec)
}

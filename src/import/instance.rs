//! One instance of the written blueprint: its `existing:` infrastructure, its controls (kept,
//! dropped, or with `as_is` the live value and an exception), and its declared role assignments.

use crate::blueprint::roles;

use super::emit::{MapBuilder, Y};
use super::facts::{Facts, Role};
use super::options::{Options, PLACEHOLDER};

/// An exception with a placeholder reason, for the weakness observed at `source`.
fn exception(allows: &str, principal: Option<&str>, what: &str, source: &str) -> Y {
    let mut e = MapBuilder::new();
    e.put_noted(
        "allows",
        Y::str(allows),
        &[format!("{PLACEHOLDER} kept as observed: {source}")],
    );
    if let Some(p) = principal {
        e.put("principalId", Y::str(p));
    }
    e.put(
        "reason",
        Y::str(format!(
            "{PLACEHOLDER} {what} today; write why it must stay, or delete this exception to harden it"
        )),
    );
    e.build()
}

fn strs(v: &[String]) -> Y {
    Y::Seq(v.iter().map(|s| Y::str(s.clone())).collect())
}

pub(super) fn instance(f: &Facts, opts: &Options) -> Y {
    let id = &f.account.id;
    let mut m = MapBuilder::new();
    let mut head = vec![id.to_string()];
    head.extend(outside_notes(f));
    m.put_noted("name", Y::str(&f.name), &head);
    m.put(
        "profile",
        Y::str(if f.cmk_complete() {
            "strict-cmk"
        } else {
            "strict"
        }),
    );
    m.put("subscription", Y::str(&f.account.subscription));
    m.put("resourceGroup", Y::str(&f.account.resource_group));
    m.put("accountName", Y::str(&f.account.name));
    m.put_noted(
        "location",
        Y::str(&f.account.location),
        &["location, kind, properties.customSubDomainName: the account's".into()],
    );
    m.put("kind", Y::str(&f.account.kind));
    if let Some(s) = &f.custom_subdomain {
        m.put("customSubdomain", Y::str(s));
    }
    if let Some(sku) = f.sku.as_deref().filter(|s| *s != "S0") {
        m.put_noted(
            "sku",
            Y::str(sku),
            &["sku.name: the account's (the baseline says S0)".into()],
        );
    }
    let existing = existing(f);
    if !existing.is_empty() {
        m.put("existing", existing.build());
    }
    let mut exceptions: Vec<Y> = Vec::new();
    let controls = controls(f, opts, &mut exceptions);
    if !controls.is_empty() {
        m.put("controls", controls.build());
    }
    if !exceptions.is_empty() {
        m.put("exceptions", Y::Seq(exceptions));
    }
    m.build()
}

/// What audit finds here that no blueprint field changes: named here, each acknowledged at the
/// end of the file (`acknowledged:`) with a placeholder reason.
fn outside_notes(f: &Facts) -> Vec<String> {
    if f.outside.is_empty() {
        return Vec::new();
    }
    let mut rules: Vec<&str> = f.outside.iter().map(|o| o.rule).collect();
    rules.sort_unstable();
    rules.dedup();
    vec![format!(
        "Audit finds {} here, which no blueprint field changes: see `acknowledged:` at the end.",
        rules.join(", ")
    )]
}

/// The application's assignment has a role that can list the account's keys (`MOAT-PA-003`).
fn lists_keys(f: &Facts, r: &Role) -> bool {
    f.outside
        .iter()
        .any(|o| o.rule == "MOAT-PA-003" && o.resource_id.eq_ignore_ascii_case(&r.id))
}

fn existing(f: &Facts) -> MapBuilder {
    let mut e = MapBuilder::new();
    if let Some(ep) = &f.endpoint {
        e.put_noted(
            "endpointSubnet",
            Y::str(&ep.subnet),
            &[format!("{}: properties.subnet.id", ep.id)],
        );
        if let Some(p) = &ep.prefix {
            e.put_noted(
                "endpointSubnetPrefix",
                Y::str(p),
                &[format!("{}: properties.addressPrefix", ep.subnet)],
            );
        }
        if let Some(nsg) = &ep.nsg {
            e.put_noted(
                "nsg",
                Y::str(nsg),
                &[format!("{}: properties.networkSecurityGroup.id", ep.subnet)],
            );
        }
        if let Some((zone, rg)) = &ep.zone {
            let mut z = MapBuilder::new();
            z.put("resourceGroup", Y::str(rg));
            e.put_noted(
                "dnsZones",
                z.build(),
                &[format!(
                    "{}/privateDnsZoneGroups: privateDnsZoneConfigs[].properties.privateDnsZoneId = {zone}",
                    ep.id
                )],
            );
        }
    }
    if let Some((setting, ws)) = &f.workspace {
        e.put_noted(
            "logAnalyticsWorkspace",
            Y::str(ws),
            &[format!("{setting}: properties.workspaceId")],
        );
    }
    if let Some(k) = f.cmk.as_ref().filter(|_| f.cmk_complete()) {
        let mut key = MapBuilder::new();
        key.put("vaultUri", Y::str(&k.vault_uri));
        if let Some(v) = &k.vault_id {
            key.put_noted(
                "vaultId",
                Y::str(v),
                &["the Key Vault whose properties.vaultUri is that URI".into()],
            );
        }
        key.put("name", Y::str(&k.name));
        if let Some(v) = &k.version {
            key.put("version", Y::str(v));
        }
        e.put_noted(
            "keyVaultKey",
            key.build(),
            &["properties.encryption.keyVaultProperties of the account".into()],
        );
    }
    e
}

fn controls(f: &Facts, opts: &Options, exceptions: &mut Vec<Y>) -> MapBuilder {
    let mut c = MapBuilder::new();
    network_path(f, &mut c);
    if f.workspace.is_none() {
        c.put_noted(
            "diagnostics",
            Y::Null,
            &["No diagnostic setting sends to a Log Analytics workspace (providers/Microsoft.Insights/diagnosticSettings):".into(),
              "name one in existing.logAnalyticsWorkspace and delete this line (M1).".into()],
        );
    }
    c.put_noted(
        "alerts",
        Y::Null,
        &["Alerts need an action group to notify: give controls.alerts.actionGroup (or actionGroupId)".into(),
          "and delete this line to turn on the baseline's alert rules (M2).".into()],
    );
    if opts.as_is {
        as_is_controls(f, &mut c, exceptions);
    }
    kept_controls(f, &mut c);
    roles_control(f, opts, &mut c, exceptions);
    c
}

/// N1-N4: kept when the account has a private endpoint, else dropped with what to add.
fn network_path(f: &Facts, c: &mut MapBuilder) {
    let Some(ep) = &f.endpoint else {
        let lines = [
            "No approved private endpoint connection (properties.privateEndpointConnections): name the".to_string(),
            "endpoint subnet, its prefix, the NSG and the zones' resource group in `existing:` and delete".into(),
            "these four lines to add the private endpoint, DNS and NSG rules (N1-N4).".into(),
        ];
        c.put_noted("privateEndpoint", Y::Null, &lines);
        c.put("privateDns", Y::Null);
        c.put("dnsZoneGroup", Y::Null);
        c.put("nsg", Y::Null);
        return;
    };
    if ep.zone.is_none() {
        c.put_noted(
            "dnsZoneGroup",
            Y::Null,
            &[format!(
                "{} has no DNS zone group: name the zones' resource group in existing.dnsZones and delete this line (N3).",
                ep.id
            )],
        );
        c.put("privateDns", Y::Null);
    }
    match (&ep.nsg, &ep.nsg_sources) {
        (Some(nsg), sources) => {
            let mut rules = MapBuilder::new();
            for (rule, source) in [
                ("Allow-App-Subnet", sources.0.as_ref()),
                ("Allow-APIM-Subnet", sources.1.as_ref()),
            ] {
                match source {
                    Some(s) => {
                        let mut r = MapBuilder::new();
                        r.put("source", Y::str(s));
                        rules.put_noted(
                            rule,
                            r.build(),
                            &[format!(
                                "{nsg}/securityRules/{rule}: properties.sourceAddressPrefix"
                            )],
                        );
                    }
                    None => {
                        rules.put_noted(
                            rule,
                            Y::Null,
                            &[format!("{nsg} has no rule {rule}: give its source CIDR here to add it (N4)")],
                        );
                    }
                }
            }
            let mut n = MapBuilder::new();
            n.put("rules", rules.build());
            c.put("nsg", n.build());
        }
        (None, _) => {
            c.put_noted(
                "nsg",
                Y::Null,
                &[format!(
                    "{} has no NSG: name one in existing.nsg and delete this line (N4).",
                    ep.subnet
                )],
            );
        }
    }
}

/// Values kept in both modes because the baseline's would not be a hardening: user-assigned
/// identities (the baseline's `SystemAssigned` would remove them).
fn kept_controls(f: &Facts, c: &mut MapBuilder) {
    if f.identity_type.contains("UserAssigned") {
        let mut i = MapBuilder::new();
        i.put("type", Y::str(&f.identity_type));
        i.put("userAssigned", strs(&f.user_identities));
        c.put_noted(
            "identity",
            i.build(),
            &["identity.type and identity.userAssignedIdentities of the account".into()],
        );
    }
}

fn as_is_controls(f: &Facts, c: &mut MapBuilder, exceptions: &mut Vec<Y>) {
    if let Some(ep) = f
        .endpoint
        .as_ref()
        .filter(|e| !e.subnet_policies.eq_ignore_ascii_case("Enabled"))
    {
        let mut m = MapBuilder::new();
        m.put("subnetNetworkPolicies", Y::str(&ep.subnet_policies));
        c.put_noted(
            "privateEndpoint",
            m.build(),
            &[
                format!("{}: properties.privateEndpointNetworkPolicies", ep.subnet),
                format!("{PLACEHOLDER} the NSG rules do not apply to the private endpoint while this is not Enabled (N4)."),
            ],
        );
    }
    let n = &f.network;
    let public = n.public_network_access != "Disabled"
        || n.default_action != "Deny"
        || n.ip_rules
            .iter()
            .any(|r| matches!(r.as_str(), "0.0.0.0/0" | "0.0.0.0" | "::/0"));
    let differs = public
        || n.bypass != "None"
        || !n.ip_rules.is_empty()
        || !n.virtual_network_rules.is_empty();
    if differs {
        let mut m = MapBuilder::new();
        m.put("publicNetworkAccess", Y::str(&n.public_network_access));
        m.put("defaultAction", Y::str(&n.default_action));
        m.put("bypass", Y::str(&n.bypass));
        m.put("ipRules", strs(&n.ip_rules));
        m.put("virtualNetworkRules", strs(&n.virtual_network_rules));
        c.put_noted(
            "networkAccess",
            m.build(),
            &["properties.publicNetworkAccess and properties.networkAcls (defaultAction, bypass, ipRules[].value, virtualNetworkRules[].id)".into()],
        );
        if public {
            exceptions.push(exception(
                "public-network-access",
                None,
                &format!(
                    "the account is reachable publicly (publicNetworkAccess {}, networkAcls.defaultAction {})",
                    n.public_network_access, n.default_action
                ),
                "properties.publicNetworkAccess and properties.networkAcls.defaultAction of the account",
            ));
        }
        if n.bypass == "AzureServices" {
            exceptions.push(exception(
                "network-bypass",
                None,
                "trusted Azure services pass the firewall (networkAcls.bypass AzureServices)",
                "properties.networkAcls.bypass of the account",
            ));
        }
    }
    if !f.restrict_outbound || !f.allowed_fqdns.is_empty() {
        let mut m = MapBuilder::new();
        m.put("restrict", Y::Bool(f.restrict_outbound));
        m.put("allowedFqdns", strs(&f.allowed_fqdns));
        c.put_noted(
            "outbound",
            m.build(),
            &["properties.restrictOutboundNetworkAccess and properties.allowedFqdnList".into()],
        );
        if !f.restrict_outbound {
            exceptions.push(exception(
                "outbound-unrestricted",
                None,
                "outbound access is unrestricted (restrictOutboundNetworkAccess false)",
                "properties.restrictOutboundNetworkAccess of the account",
            ));
        }
    }
    if !f.local_auth_disabled {
        let mut m = MapBuilder::new();
        m.put("disabled", Y::Bool(false));
        c.put_noted(
            "localAuth",
            m.build(),
            &["properties.disableLocalAuth".into()],
        );
        exceptions.push(exception(
            "local-auth",
            None,
            "API keys are enabled (disableLocalAuth false)",
            "properties.disableLocalAuth of the account",
        ));
    }
    if f.identity_type == "None" {
        let mut m = MapBuilder::new();
        m.put("type", Y::str("None"));
        c.put_noted("identity", m.build(), &["identity.type".into()]);
        exceptions.push(exception(
            "no-managed-identity",
            None,
            "the account has no managed identity",
            "identity.type of the account",
        ));
    }
    if f.defender_state.as_deref() != Some("Enabled") {
        let mut m = MapBuilder::new();
        m.put("state", Y::str("Disabled"));
        c.put_noted(
            "defenderForAI",
            m.build(),
            &["defenderForAISettings/Default: properties.state".into()],
        );
        exceptions.push(exception(
            "defender-for-ai-disabled",
            None,
            "Defender for AI is off",
            "defenderForAISettings/Default: properties.state",
        ));
    }
    if !f.rai_policy_present {
        c.put_noted(
            "raiPolicy",
            Y::Null,
            &[format!("{PLACEHOLDER} the account has no RAI policy `{}`: delete this line and the next to add it and bind every deployment (C1, C2).", f.rai_name)],
        );
        c.put("deployments", Y::Null);
    } else if !f.unbound.is_empty() {
        let mut m = MapBuilder::new();
        m.put("bindAllToRaiPolicy", Y::Bool(false));
        c.put_noted(
            "deployments",
            m.build(),
            &[format!(
                "deployments/*: properties.raiPolicyName is not `{}` on {}",
                f.rai_name,
                f.unbound.join(", ")
            )],
        );
        exceptions.push(exception(
            "content-filter",
            None,
            &format!(
                "deployment(s) {} are not bound to {}",
                f.unbound.join(", "),
                f.rai_name
            ),
            "deployments/*: properties.raiPolicyName",
        ));
    }
}

fn roles_control(f: &Facts, opts: &Options, c: &mut MapBuilder, exceptions: &mut Vec<Y>) {
    // Declared: the applications' assignments, except (hardening) those whose role can list the
    // account's keys, which stay undeclared so audit keeps reporting them (MOAT-PA-003).
    let declare =
        |r: &&Role| r.principal_type == "ServicePrincipal" && (opts.as_is || !lists_keys(f, r));
    let apps: Vec<&Role> = f.roles.iter().filter(declare).collect();
    let others: Vec<&Role> = f.roles.iter().filter(|r| !declare(r)).collect();
    let privileged_others: Vec<&&Role> = others.iter().filter(|r| r.privileged()).collect();
    let remove = !opts.as_is && !privileged_others.is_empty();
    if apps.is_empty() && !remove {
        return;
    }
    let mut list: Vec<Y> = Vec::new();
    for r in &apps {
        let mut a = MapBuilder::new();
        let mut source = vec![format!(
            "{}: properties.principalId, principalType, roleDefinitionId",
            r.id
        )];
        if lists_keys(f, r) {
            source.push(format!(
                "{PLACEHOLDER} this role can list the account's keys (MOAT-PA-003); declared as it is today: give the application a role without listKeys/action"
            ));
        }
        a.put_noted("principalId", Y::str(&r.principal_id), &source);
        a.put("principalType", Y::str("ServicePrincipal"));
        a.put(
            "role",
            Y::str(roles::name_of(&r.role_guid).unwrap_or(&r.role_guid)),
        );
        list.push(a.build());
        if r.privileged() {
            exceptions.push(exception(
                "privileged-role",
                Some(&r.principal_id),
                &format!(
                    "the application holds the privileged role {} on the account",
                    r.role_name()
                ),
                &format!("{}: properties.roleDefinitionId", r.id),
            ));
        }
    }
    let mut ra = MapBuilder::new();
    let mut notes = vec![
        "Applications (service principals) assigned a role directly on the account.".to_string(),
    ];
    for r in &others {
        let why = if lists_keys(f, r) {
            "a role that can list the account's keys is an audit finding (MOAT-PA-003)"
        } else {
            "users and groups are audit findings"
        };
        notes.push(format!(
            "Not declared: {} {} holds {} ({}); {why}.",
            r.principal_type,
            r.principal_id,
            r.role_name(),
            r.id
        ));
    }
    ra.put_noted("assignments", Y::Seq(list), &notes);
    if remove {
        ra.put_noted(
            "removeUndeclaredPrivileged",
            Y::Bool(true),
            &["The baseline declares no privileged role: apply removes the undeclared ones noted above (I4).".into()],
        );
    }
    c.put("roleAssignments", ra.build());
}

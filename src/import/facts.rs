//! What import reads about each account: the observer's reads of a baseline instance, plus the
//! private endpoint chain, the diagnostic settings and the CMK vault (GETs only).

use futures::stream::{self, StreamExt};
use serde_json::Value;

use crate::arm::{ArmApi, ArmError};
use crate::audit::discover::Discovered;
use crate::audit::run::AuditError;
use crate::blueprint::resolved::{Blueprint, Instance};
use crate::blueprint::roles;
use crate::observe::{Observed, Read};
use crate::resources::{self, get_str, id_eq, last_segment, segment_after_ci};

/// Accounts read at once (each read still goes through the client's limiter).
const CONCURRENCY: usize = 8;

/// A role assignment directly on the account.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub id: String,
    pub principal_id: String,
    pub principal_type: String,
    pub role_guid: String,
}

impl Role {
    pub fn privileged(&self) -> bool {
        roles::is_privileged(&self.role_guid)
    }

    pub fn role_name(&self) -> String {
        roles::name_of(&self.role_guid).map_or_else(|| self.role_guid.clone(), str::to_string)
    }
}

/// The account's private endpoint and what it is in.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub subnet: String,
    pub prefix: Option<String>,
    pub nsg: Option<String>,
    /// A privatelink zone id and its resource group.
    pub zone: Option<(String, String)>,
    /// The subnet's `privateEndpointNetworkPolicies` (ARM's default when absent: `Disabled`).
    pub subnet_policies: String,
    /// Sources of the NSG's Allow-App-Subnet and Allow-APIM-Subnet rules.
    pub nsg_sources: (Option<String>, Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub public_network_access: String,
    pub default_action: String,
    pub bypass: String,
    pub ip_rules: Vec<String>,
    pub virtual_network_rules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cmk {
    pub vault_uri: String,
    pub vault_id: Option<String>,
    pub name: String,
    pub version: Option<String>,
}

/// Everything import writes about one account.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub account: Discovered,
    /// The instance name.
    pub name: String,
    pub sku: Option<String>,
    pub custom_subdomain: Option<String>,
    pub network: Network,
    pub restrict_outbound: bool,
    pub allowed_fqdns: Vec<String>,
    pub local_auth_disabled: bool,
    pub identity_type: String,
    pub user_identities: Vec<String>,
    pub defender_state: Option<String>,
    pub rai_name: String,
    pub rai_policy_present: bool,
    /// Deployments not bound to the baseline's RAI policy.
    pub unbound: Vec<String>,
    pub roles: Vec<Role>,
    pub endpoint: Option<Endpoint>,
    /// (diagnostic setting id, workspace id).
    pub workspace: Option<(String, String)>,
    pub cmk: Option<Cmk>,
    /// What audit finds on the account that no blueprint changes (observed-state rules).
    pub outside: Vec<Outside>,
}

/// An observed-state audit finding (`MOAT-NS-011`, `MOAT-PA-002`…): a weakness moat's plan
/// never touches, written into the blueprint as a comment for the reviewer.
#[derive(Debug, Clone, PartialEq)]
pub struct Outside {
    pub rule: &'static str,
    pub title: &'static str,
    pub remediation: &'static str,
    /// The resource it is on (a role assignment, a private endpoint connection…).
    pub resource_id: String,
    /// What was observed, in words.
    pub observed: String,
}

impl Facts {
    /// A customer-managed key whose vault was found (the blueprint needs its id).
    pub fn cmk_complete(&self) -> bool {
        self.cmk.as_ref().is_some_and(|k| k.vault_id.is_some())
    }
}

pub async fn gather(
    api: &dyn ArmApi,
    probes: &Blueprint,
    observed: &Observed,
    names: &[String],
    rai_name: &str,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<Facts>, AuditError> {
    let total = probes.instances.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Facts, ArmError>> = stream::iter(probes.instances.iter().enumerate())
        .map(|(i, inst)| {
            let done = &done;
            async move {
                let f = one(api, inst, observed, &names[i], rai_name).await;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(n, total);
                f
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    results
        .into_iter()
        .map(|r| r.map_err(AuditError::from))
        .collect()
}

fn strings(v: Option<&Value>, field: Option<&str>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| match field {
                    Some(f) => x[f].as_str(),
                    None => x.as_str(),
                })
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

async fn one(
    api: &dyn ArmApi,
    inst: &Instance,
    observed: &Observed,
    name: &str,
    rai_name: &str,
) -> Result<Facts, ArmError> {
    let seen = &observed
        .instances
        .iter()
        .find(|o| o.name == inst.name)
        .expect("observed every probe")
        .reads;
    let account_id = inst.account_id();
    let empty = Value::Null;
    let acct = seen
        .value(&resources::account::read(inst))
        .unwrap_or(&empty);
    let p = &acct["properties"];
    let acls = &p["networkAcls"];
    let network = Network {
        public_network_access: p["publicNetworkAccess"]
            .as_str()
            .unwrap_or("Enabled")
            .to_string(),
        default_action: acls["defaultAction"]
            .as_str()
            .unwrap_or("Allow")
            .to_string(),
        bypass: acls["bypass"]
            .as_str()
            .unwrap_or("AzureServices")
            .to_string(),
        ip_rules: strings(acls.get("ipRules"), Some("value")),
        virtual_network_rules: strings(acls.get("virtualNetworkRules"), Some("id")),
    };
    let identity_type = acct["identity"]["type"]
        .as_str()
        .unwrap_or("None")
        .to_string();
    let user_identities = acct["identity"]["userAssignedIdentities"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let defender_state = seen
        .value(&Read::get(
            format!("{account_id}/defenderForAISettings/Default"),
            resources::defender_for_ai::API_VERSION,
        ))
        .and_then(|v| get_str(v, "properties.state"))
        .map(str::to_string);
    let rai_policy_present =
        resources::rai_policy::read(inst).is_some_and(|r| seen.value(&r).is_some());
    let unbound = resources::deployment::read(inst)
        .map(|r| {
            seen.items(&r)
                .iter()
                .filter(|d| get_str(d, "properties.raiPolicyName") != Some(rai_name))
                .filter_map(|d| d["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let roles = resources::role_assignment::read(inst)
        .map(|r| {
            seen.items(&r)
                .iter()
                .filter(|a| get_str(a, "properties.scope").is_some_and(|s| id_eq(s, &account_id)))
                .filter_map(|a| {
                    Some(Role {
                        id: get_str(a, "id")?.to_string(),
                        principal_id: get_str(a, "properties.principalId")?.to_lowercase(),
                        principal_type: get_str(a, "properties.principalType")?.to_string(),
                        role_guid: last_segment(get_str(a, "properties.roleDefinitionId")?)
                            .to_lowercase(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let (endpoint, records) = endpoint(api, p).await?;
    let workspace = workspace(api, &account_id).await?;
    let cmk = cmk(api, &inst.subscription, p).await?;
    Ok(Facts {
        account: crate::audit::discover::Discovered {
            id: account_id.clone(),
            subscription: inst.subscription.clone(),
            resource_group: inst.resource_group.clone(),
            name: inst.account_name.clone(),
            location: inst.location.clone(),
            kind: inst.kind.clone(),
        },
        name: name.to_string(),
        sku: acct["sku"]["name"].as_str().map(str::to_string),
        custom_subdomain: p["customSubDomainName"].as_str().map(str::to_string),
        network,
        restrict_outbound: p["restrictOutboundNetworkAccess"]
            .as_bool()
            .unwrap_or(false),
        allowed_fqdns: strings(p.get("allowedFqdnList"), None),
        local_auth_disabled: p["disableLocalAuth"].as_bool().unwrap_or(false),
        identity_type,
        user_identities,
        defender_state,
        rai_name: rai_name.to_string(),
        rai_policy_present,
        unbound,
        roles,
        endpoint,
        workspace,
        cmk,
        outside: records,
    })
}

/// The first approved private endpoint connection's endpoint, its subnet (prefix, NSG and the
/// NSG's two baseline rules) and its zone group's first zone.
async fn endpoint(
    api: &dyn ArmApi,
    props: &Value,
) -> Result<(Option<Endpoint>, Vec<Outside>), ArmError> {
    let net = resources::private_endpoint::API_VERSION;
    let pe_id = props["privateEndpointConnections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            get_str(c, "properties.privateLinkServiceConnectionState.status")
                .is_none_or(|s| s == "Approved")
        })
        .find_map(|c| get_str(c, "properties.privateEndpoint.id"));
    let Some(pe_id) = pe_id else {
        return Ok((None, Vec::new()));
    };
    let Some(pe) = api.get(pe_id, net).await? else {
        return Ok((None, Vec::new()));
    };
    let Some(subnet_id) = get_str(&pe, "properties.subnet.id").map(str::to_string) else {
        return Ok((None, Vec::new()));
    };
    let subnet = api.get(&subnet_id, net).await?;
    let sp = subnet.as_ref().map(|s| &s["properties"]);
    let prefix = sp.and_then(|p| {
        p["addressPrefix"]
            .as_str()
            .or_else(|| p["addressPrefixes"][0].as_str())
            .map(str::to_string)
    });
    let nsg = sp
        .and_then(|p| p["networkSecurityGroup"]["id"].as_str())
        .map(str::to_string);
    let subnet_policies = sp
        .and_then(|p| p["privateEndpointNetworkPolicies"].as_str())
        .unwrap_or("Disabled")
        .to_string();
    let mut sources = (None, None);
    if let Some(n) = &nsg {
        let source = |rule: Option<Value>| {
            rule.and_then(|r| {
                get_str(&r, "properties.sourceAddressPrefix")
                    .map(str::to_string)
                    .or_else(|| {
                        r["properties"]["sourceAddressPrefixes"][0]
                            .as_str()
                            .map(str::to_string)
                    })
            })
        };
        let rv = resources::security_rule::API_VERSION;
        sources.0 = source(
            api.get(&resources::security_rule::id(n, "Allow-App-Subnet"), rv)
                .await?,
        );
        sources.1 = source(
            api.get(&resources::security_rule::id(n, "Allow-APIM-Subnet"), rv)
                .await?,
        );
    }
    let groups = match api
        .list(&format!("{pe_id}/privateDnsZoneGroups"), net)
        .await
    {
        Ok(g) => g,
        Err(e) if e.status() == Some(404) => Vec::new(),
        Err(e) => return Err(e),
    };
    let zone = groups.iter().find_map(|g| {
        let z = g["properties"]["privateDnsZoneConfigs"]
            .as_array()?
            .iter()
            .find_map(|c| get_str(c, "properties.privateDnsZoneId"))?;
        let rg = segment_after_ci(z, "resourceGroups")?;
        Some((z.to_string(), rg))
    });
    let records = records(api, &pe, &groups, props).await?;
    Ok((
        Some(Endpoint {
            id: pe_id.to_string(),
            subnet: subnet_id,
            prefix,
            nsg,
            zone,
            subnet_policies,
            nsg_sources: sources,
        }),
        records,
    ))
}

/// `MOAT-NS-012` on the zones of the endpoint's zone groups, judged as audit judges it: the
/// A record of the account's subdomain holds the endpoint's IPs, and only them. One A-record
/// list per zone. Import finds it here because its probes declare no private path.
async fn records(
    api: &dyn ArmApi,
    pe: &Value,
    groups: &[Value],
    props: &Value,
) -> Result<Vec<Outside>, ArmError> {
    let rule = crate::audit::rules::rule("MOAT-NS-012").expect("the A record rule exists");
    let Some(label) = props["customSubDomainName"]
        .as_str()
        .map(str::to_ascii_lowercase)
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for g in groups {
        for c in g["properties"]["privateDnsZoneConfigs"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(zone_id) = get_str(c, "properties.privateDnsZoneId") else {
                continue;
            };
            let zone_name = last_segment(zone_id).to_ascii_lowercase();
            let expected =
                crate::audit::dns_records::expected_ips(pe, Some(g), zone_id, &zone_name, &label);
            if expected.is_empty() {
                continue;
            }
            let zv = resources::private_dns_zone::API_VERSION;
            let list = match api.list(&format!("{zone_id}/A"), zv).await {
                Ok(l) => l,
                Err(e) if e.status() == Some(404) => continue,
                Err(e) => return Err(e),
            };
            let found =
                crate::audit::dns_records::verdict(expected, zone_id, &zone_name, &label, &list);
            if let Some(v) = found {
                out.push(Outside {
                    rule: rule.id,
                    title: rule.title,
                    remediation: rule.remediation,
                    resource_id: v.resource_id,
                    observed: v.observed,
                });
            }
        }
    }
    Ok(out)
}

/// The diagnostic setting that sends to a workspace (moat's own first, else the first by name).
async fn workspace(
    api: &dyn ArmApi,
    account_id: &str,
) -> Result<Option<(String, String)>, ArmError> {
    let path = format!("{account_id}/providers/Microsoft.Insights/diagnosticSettings");
    let list = match api
        .list(&path, resources::diagnostic_setting::API_VERSION)
        .await
    {
        Ok(l) => l,
        Err(e) if e.status() == Some(404) => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut with_ws: Vec<(String, String, String)> = list
        .iter()
        .filter_map(|s| {
            Some((
                s["name"].as_str().unwrap_or_default().to_string(),
                get_str(s, "id")?.to_string(),
                get_str(s, "properties.workspaceId")?.to_string(),
            ))
        })
        .collect();
    with_ws.sort_by_key(|(n, _, _)| (n != "moat-security", n.clone()));
    Ok(with_ws.into_iter().next().map(|(_, id, ws)| (id, ws)))
}

const VAULT_API: &str = "2023-07-01";

/// The customer-managed key, with its vault's id when a vault of the subscription has that URI.
async fn cmk(api: &dyn ArmApi, subscription: &str, props: &Value) -> Result<Option<Cmk>, ArmError> {
    if get_str(props, "encryption.keySource") != Some("Microsoft.KeyVault") {
        return Ok(None);
    }
    let kv = &props["encryption"]["keyVaultProperties"];
    let (Some(uri), Some(name)) = (kv["keyVaultUri"].as_str(), kv["keyName"].as_str()) else {
        return Ok(None);
    };
    let path = format!("/subscriptions/{subscription}/providers/Microsoft.KeyVault/vaults");
    let vaults = api.list(&path, VAULT_API).await.unwrap_or_default();
    let norm = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
    let vault_id = vaults
        .iter()
        .find(|v| get_str(v, "properties.vaultUri").is_some_and(|u| norm(u) == norm(uri)))
        .and_then(|v| get_str(v, "id"))
        .map(str::to_string);
    Ok(Some(Cmk {
        vault_uri: uri.to_string(),
        vault_id,
        name: name.to_string(),
        version: kv["keyVersion"]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(str::to_string),
    }))
}

//! The observer: every ARM read the planner needs, done concurrently, into plain data.
//!
//! No read is repeated within one run (a cache keyed by URL shares one request between every
//! instance that needs, say, the same privatelink zone), and a missing resource is data (`None`),
//! not an error.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use futures::stream::{FuturesOrdered, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::arm::{ArmApi, ArmError, ArmRequest, Method};
use crate::blueprint::resolved::{Blueprint, Instance};
use crate::resources::{self as res, get_str, id_eq};

/// Everything the planner knows about one instance's live state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedInstance {
    pub name: String,
    pub account: Option<Value>,
    /// The soft-deleted account holding the name, read only when the account is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_account: Option<Value>,
    /// When moat is to create the account: a live or soft-deleted account in the same
    /// subscription that already uses the blueprint's custom subdomain (ARM would refuse the
    /// create with CustomDomainInUse). The same-name soft-deleted account is `deleted_account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain_holder: Option<Value>,
    /// `requiredZoneNames` of the account's `account` private link resource.
    #[serde(default)]
    pub required_zone_names: Vec<String>,
    #[serde(default)]
    pub deployments: Vec<Value>,
    #[serde(default)]
    pub rai_policy: Option<Value>,
    #[serde(default)]
    pub private_endpoint: Option<Value>,
    #[serde(default)]
    pub zone_group: Option<Value>,
    /// Zone name (lower-case) → zone.
    #[serde(default)]
    pub dns_zones: BTreeMap<String, Option<Value>>,
    /// Zone name (lower-case) → every VNet link of the zone.
    #[serde(default)]
    pub vnet_links: BTreeMap<String, Vec<Value>>,
    #[serde(default)]
    pub nsg: Option<Value>,
    #[serde(default)]
    pub subnet: Option<Value>,
    /// Direct role assignments at the account scope (inherited ones filtered out).
    #[serde(default)]
    pub role_assignments: Vec<Value>,
    #[serde(default)]
    pub diagnostic_settings: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub instances: Vec<ObservedInstance>,
}

/// A read failed: which instance, and ARM's error.
#[derive(Debug, thiserror::Error)]
#[error("could not read the live state of instance {instance}")]
pub struct ObserveError {
    pub instance: String,
    #[source]
    pub source: ArmError,
}

type Slot = Arc<OnceCell<Result<Option<Value>, ArmError>>>;

/// Shares one request between every caller that asks for the same URL in a run.
struct Reader<'a> {
    api: &'a dyn ArmApi,
    cache: Mutex<HashMap<String, Slot>>,
}

impl<'a> Reader<'a> {
    fn slot(&self, key: String) -> Slot {
        let mut c = self.cache.lock().expect("observer cache poisoned");
        c.entry(key).or_default().clone()
    }

    async fn get(&self, path: String, api_version: &str) -> Result<Option<Value>, ArmError> {
        let slot = self.slot(format!("GET {}?{api_version}", res::norm_id(&path)));
        slot.get_or_init(|| async { self.api.get(&path, api_version).await })
            .await
            .clone()
    }

    async fn list(&self, req: ArmRequest) -> Result<Vec<Value>, ArmError> {
        let key = format!(
            "LIST {}?{:?}{:?}",
            res::norm_id(&req.path),
            req.api_version,
            req.query
        );
        let slot = self.slot(key);
        let v = slot
            .get_or_init(|| async {
                self.api
                    .list_query(req)
                    .await
                    .map(|items| Some(Value::Array(items)))
            })
            .await
            .clone()?;
        Ok(match v {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        })
    }
}

/// Read the live state of every instance in the blueprint.
pub async fn observe(api: &dyn ArmApi, bp: &Blueprint) -> Result<Observed, ObserveError> {
    let reader = Reader {
        api,
        cache: Mutex::new(HashMap::new()),
    };
    // FuturesOrdered, not join_all: join_all polls every instance's future whenever any one of
    // them is woken (for up to 30 futures), which made a plan of 30 instances spend its time
    // polling; here only the woken instance is polled.
    let results: Vec<_> = bp
        .instances
        .iter()
        .map(|inst| {
            let reader = &reader;
            async move {
                observe_instance(reader, inst)
                    .await
                    .map_err(|source| ObserveError {
                        instance: inst.name.clone(),
                        source,
                    })
            }
        })
        .collect::<FuturesOrdered<_>>()
        .collect()
        .await;
    let mut out = Observed::default();
    for r in results {
        out.instances.push(r?);
    }
    Ok(out)
}

/// Public for `apply`, which re-reads single instances.
pub async fn observe_one(api: &dyn ArmApi, inst: &Instance) -> Result<ObservedInstance, ArmError> {
    let reader = Reader {
        api,
        cache: Mutex::new(HashMap::new()),
    };
    observe_instance(&reader, inst).await
}

async fn opt<F: std::future::Future<Output = Result<Option<Value>, ArmError>>>(
    f: Option<F>,
) -> Result<Option<Value>, ArmError> {
    match f {
        Some(f) => f.await,
        None => Ok(None),
    }
}

async fn observe_instance(r: &Reader<'_>, inst: &Instance) -> Result<ObservedInstance, ArmError> {
    let c = &inst.controls;
    let account_id = inst.account_id();
    let acct_api = res::account::API_VERSION;
    let pe_id = c
        .private_endpoint
        .as_ref()
        .map(|p| res::private_endpoint::id(&p.spec));
    let needs_plr = c
        .private_dns
        .as_ref()
        .is_some_and(|d| d.spec.zones.is_empty());

    // Round 1: everything addressable from the blueprint alone.
    let (account, plr, deployments, rai, pe, nsg, subnet, roles, diags) = tokio::join!(
        r.get(account_id.clone(), acct_api),
        opt(needs_plr.then(|| r.get(format!("{account_id}/privateLinkResources"), acct_api))),
        async {
            if c.deployments.is_some() {
                r.list(ArmRequest::new(
                    Method::Get,
                    format!("{account_id}/deployments"),
                    acct_api,
                ))
                .await
            } else {
                Ok(Vec::new())
            }
        },
        opt(c
            .rai_policy
            .as_ref()
            .map(|p| r.get(res::rai_policy::id(inst, &p.spec.name), acct_api))),
        opt(pe_id
            .as_deref()
            .map(|id| r.get(id.to_string(), res::private_endpoint::API_VERSION))),
        opt(c
            .nsg
            .as_ref()
            .map(|n| r.get(n.spec.nsg_id.clone(), res::security_rule::API_VERSION))),
        opt(c
            .private_endpoint
            .as_ref()
            .map(|p| r.get(p.spec.subnet_id.clone(), res::subnet::API_VERSION))),
        async {
            if c.role_assignments.is_some() {
                r.list(
                    ArmRequest::new(
                        Method::Get,
                        format!("{account_id}/providers/Microsoft.Authorization/roleAssignments"),
                        res::role_assignment::API_VERSION,
                    )
                    .with_query("$filter", "atScope()"),
                )
                .await
            } else {
                Ok(Vec::new())
            }
        },
        async {
            if c.diagnostics.is_some() {
                r.list(ArmRequest::new(
                    Method::Get,
                    res::diagnostic_setting::list_path(&account_id),
                    res::diagnostic_setting::API_VERSION,
                ))
                .await
            } else {
                Ok(Vec::new())
            }
        },
    );
    let account = account?;
    let mut obs = ObservedInstance {
        name: inst.name.clone(),
        account,
        deployments: deployments?,
        rai_policy: rai?,
        private_endpoint: pe?,
        nsg: nsg?,
        subnet: subnet?,
        diagnostic_settings: diags?,
        ..Default::default()
    };
    obs.required_zone_names = plr?
        .as_ref()
        .and_then(|v| v.get("value"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|i| {
                    get_str(i, "properties.groupId")
                        .is_some_and(|g| g.eq_ignore_ascii_case("account"))
                })
                .flat_map(|i| res::str_list(res::get(i, "properties.requiredZoneNames")))
                .collect()
        })
        .unwrap_or_default();
    obs.role_assignments = roles?
        .into_iter()
        .filter(|a| get_str(a, "properties.scope").is_some_and(|s| id_eq(s, &account_id)))
        .collect();

    // Round 2: what depends on round 1.
    let zones = crate::plan::zone_names(inst, &obs);
    let deleted_path = format!(
        "/subscriptions/{}/providers/Microsoft.CognitiveServices/locations/{}/resourceGroups/{}/deletedAccounts/{}",
        inst.subscription,
        res::norm_location(&inst.location),
        inst.resource_group,
        inst.account_name
    );
    let creating = obs.account.is_none() && inst.create_if_missing;
    let subdomain = inst.custom_subdomain.as_deref().filter(|_| creating);
    let (deleted, holders, group, zone_reads) = tokio::join!(
        opt(obs
            .account
            .is_none()
            .then(|| r.get(deleted_path.clone(), acct_api))),
        async {
            let Some(sub) = subdomain else {
                return Ok(None);
            };
            let cs = format!(
                "/subscriptions/{}/providers/Microsoft.CognitiveServices",
                inst.subscription
            );
            let (live, gone) = tokio::join!(
                r.list(ArmRequest::new(
                    Method::Get,
                    format!("{cs}/accounts"),
                    acct_api
                )),
                r.list(ArmRequest::new(
                    Method::Get,
                    format!("{cs}/deletedAccounts"),
                    acct_api
                )),
            );
            let uses = |a: &Value| {
                get_str(a, "properties.customSubDomainName")
                    .is_some_and(|s| s.eq_ignore_ascii_case(sub))
                    && !get_str(a, "id").is_some_and(|id| id_eq(id, &deleted_path))
            };
            Ok::<_, ArmError>(live?.into_iter().chain(gone?).find(uses))
        },
        opt(match (&obs.private_endpoint, &pe_id, &c.dns_zone_group) {
            (Some(_), Some(pe), Some(g)) => Some(r.get(
                res::dns_zone_group::id(pe, &g.spec.name),
                res::dns_zone_group::API_VERSION,
            )),
            _ => None,
        }),
        join_all(zones.iter().map(|z| async move {
            let dns = inst
                .controls
                .private_dns
                .as_ref()
                .expect("zones imply private_dns");
            let zid = res::private_dns_zone::id(&dns.spec, z);
            let (zone, links) = tokio::join!(
                r.get(zid.clone(), res::private_dns_zone::API_VERSION),
                r.list(ArmRequest::new(
                    Method::Get,
                    format!("{zid}/virtualNetworkLinks"),
                    res::vnet_link::API_VERSION
                )),
            );
            (z.to_ascii_lowercase(), zone, links)
        })),
    );
    obs.deleted_account = deleted?;
    obs.subdomain_holder = holders?;
    obs.zone_group = group?;
    for (z, zone, links) in zone_reads {
        let zone = zone?;
        let links = if zone.is_some() { links? } else { Vec::new() };
        obs.dns_zones.insert(z.clone(), zone);
        obs.vnet_links.insert(z, links);
    }
    Ok(obs)
}

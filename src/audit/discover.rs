//! Discovery: every `Microsoft.CognitiveServices/accounts` in the audited scopes, listed (paged)
//! through the ordinary [`ArmApi::list`]; a whole subscription when only a subscription is given.

use serde_json::Value;

use crate::arm::{ArmApi, ArmError};

const ACCOUNTS: &str = "providers/Microsoft.CognitiveServices/accounts";
const DELETED: &str = "providers/Microsoft.CognitiveServices/deletedAccounts";
const API_VERSION: &str = "2024-10-01";

/// One scope to list: a subscription, or a resource group in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub subscription: String,
    pub resource_group: Option<String>,
}

/// An account found by discovery, with what a synthesized instance needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub id: String,
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub kind: String,
}

/// The scopes `--subscription` / `--resource-group` select: each resource group in each
/// subscription, or the whole subscriptions when no resource group is given.
pub fn scopes(subscriptions: &[String], resource_groups: &[String]) -> Vec<Scope> {
    subscriptions
        .iter()
        .flat_map(|s| {
            let rgs: Vec<Option<String>> = if resource_groups.is_empty() {
                vec![None]
            } else {
                resource_groups.iter().cloned().map(Some).collect()
            };
            rgs.into_iter().map(move |rg| Scope {
                subscription: s.clone(),
                resource_group: rg,
            })
        })
        .collect()
}

/// The accounts in the scopes, once each, sorted by ARM id (case-insensitive).
pub async fn discover(api: &dyn ArmApi, scopes: &[Scope]) -> Result<Vec<Discovered>, ArmError> {
    let mut out: Vec<Discovered> = Vec::new();
    for s in scopes {
        let path = match &s.resource_group {
            None => format!("/subscriptions/{}/{ACCOUNTS}", s.subscription),
            Some(rg) => format!(
                "/subscriptions/{}/resourceGroups/{rg}/{ACCOUNTS}",
                s.subscription
            ),
        };
        for v in api.list(&path, API_VERSION).await? {
            if let Some(d) = discovered(&v) {
                if !out.iter().any(|o| o.id.eq_ignore_ascii_case(&d.id)) {
                    out.push(d);
                }
            }
        }
    }
    out.sort_by_key(|d| d.id.to_ascii_lowercase());
    Ok(out)
}

/// The soft-deleted accounts of the scopes' subscriptions (ARM lists them per subscription),
/// narrowed to the scopes' resource groups, once each, sorted by ARM id.
pub async fn discover_deleted(
    api: &dyn ArmApi,
    scopes: &[Scope],
) -> Result<Vec<Discovered>, ArmError> {
    let mut out: Vec<Discovered> = Vec::new();
    let mut listed: Vec<String> = Vec::new();
    for s in scopes {
        if listed
            .iter()
            .any(|l| l.eq_ignore_ascii_case(&s.subscription))
        {
            continue;
        }
        listed.push(s.subscription.clone());
        let path = format!("/subscriptions/{}/{DELETED}", s.subscription);
        for v in api.list(&path, API_VERSION).await? {
            let Some(d) = discovered(&v) else { continue };
            let in_scope = scopes.iter().any(|s| {
                s.subscription.eq_ignore_ascii_case(&d.subscription)
                    && s.resource_group
                        .as_ref()
                        .is_none_or(|rg| rg.eq_ignore_ascii_case(&d.resource_group))
            });
            if in_scope && !out.iter().any(|o| o.id.eq_ignore_ascii_case(&d.id)) {
                out.push(d);
            }
        }
    }
    out.sort_by_key(|d| d.id.to_ascii_lowercase());
    Ok(out)
}

fn discovered(v: &Value) -> Option<Discovered> {
    let id = v["id"].as_str()?;
    let segs: Vec<&str> = id.trim_start_matches('/').split('/').collect();
    let at = |key: &str| {
        segs.iter()
            .position(|s| s.eq_ignore_ascii_case(key))
            .and_then(|i| segs.get(i + 1))
            .map(|s| s.to_string())
    };
    Some(Discovered {
        id: id.to_string(),
        subscription: at("subscriptions")?,
        resource_group: at("resourceGroups")?,
        name: v["name"]
            .as_str()
            .map(str::to_string)
            .or_else(|| segs.last().map(|s| s.to_string()))?,
        location: v["location"].as_str().unwrap_or_default().to_string(),
        kind: v["kind"].as_str().unwrap_or_default().to_string(),
    })
}

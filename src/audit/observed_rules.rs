//! Observed-state rules: weaknesses audit sees in live state that are not plan changes, because
//! moat's plan never touches what it does not own (an assignment inherited from the resource
//! group or subscription, a connection another team's endpoint asked for).
//!
//! - `MOAT-NS-011`: a private endpoint connection of the account not `Approved` (read from the
//!   account's `properties.privateEndpointConnections`, already observed for the plan).
//! - `MOAT-PA-002`: Owner / Contributor / User Access Administrator / Cognitive Services
//!   Contributor inherited from the account's resource group or subscription.
//! - `MOAT-PA-003`: a role (built-in or custom) whose actions cover
//!   `Microsoft.CognitiveServices/accounts/listKeys/action`, held by a principal the blueprint
//!   does not declare (the privileged roles are PA-001 / PA-002's).
//! - `MOAT-PA-004`: a principal of type `User` holding a data-plane role (one with data
//!   actions) directly, not through a group.
//!
//! - `MOAT-NS-012`: the privatelink A records (`audit::dns_records`).
//!
//! Reads: each resource group's assignments once (`$filter=atScope()` answers the resource
//! group's own and those above it: subscription, management groups, root), however many
//! accounts it holds; each role definition once per subscription; the account's own assignments
//! from the plan's observation (read here only when the blueprint does not declare role
//! assignments). Everything through the caller's read-only client.

use serde_json::{json, Value};

use crate::arm::{ArmApi, ArmError};
use crate::blueprint::resolved::{Blueprint, Instance};
use crate::model::observed::{Observed, Read};
use crate::model::{Action, Plan};
use crate::resources::role_assignment::{self, privileged_name};
use crate::values::norm_id;

use super::cache::{guid_of, Cache};
use super::{rules, Evidence, Finding};

/// The action that hands out the account's keys.
pub const LIST_KEYS: &str = "Microsoft.CognitiveServices/accounts/listKeys/action";

fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_str()
}

/// `*` matches any run of characters (ARM's wildcard in role actions), case-insensitive.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == a;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !a.starts_with(first) || a.len() < first.len() + last.len() || !a.ends_with(last) {
        return false;
    }
    let mut rest = &a[first.len()..a.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Whether a role definition's permissions allow `action` (an `actions` entry covers it and no
/// `notActions` entry of the same permission takes it away).
pub fn role_allows(def: &Value, action: &str) -> bool {
    let list = |p: &Value, k: &str| -> Vec<String> {
        p[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    def["properties"]["permissions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| {
            list(p, "actions").iter().any(|a| action_matches(a, action))
                && !list(p, "notActions")
                    .iter()
                    .any(|a| action_matches(a, action))
        })
}

/// Whether a role definition grants any data action (a data-plane role).
pub fn has_data_actions(def: &Value) -> bool {
    def["properties"]["permissions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["dataActions"].as_array().is_some_and(|a| !a.is_empty()))
}

fn role_name(def: Option<&Value>, role_id: &str) -> String {
    def.and_then(|d| str_at(d, "properties.roleName"))
        .map(str::to_string)
        .unwrap_or_else(|| guid_of(role_id))
}

/// Whether `scope` is strictly above the account (its resource group, subscription, a
/// management group or the root).
fn above(scope: &str, account: &str) -> bool {
    let (s, a) = (norm_id(scope), norm_id(account));
    let s = s.trim_end_matches('/');
    s.is_empty() || a.starts_with(&format!("{s}/"))
}

fn declared(inst: &Instance, principal: &str, role_id: &str) -> bool {
    let guid = guid_of(role_id);
    inst.controls.role_assignments.as_ref().is_some_and(|r| {
        r.spec.assignments.iter().any(|w| {
            w.principal_id.eq_ignore_ascii_case(principal)
                && w.role_definition_guid.eq_ignore_ascii_case(&guid)
        })
    })
}

/// The findings on observed state for every judged instance, after the plan's.
pub async fn findings(
    api: &dyn ArmApi,
    judged: &Blueprint,
    observed: &Observed,
    plan: &Plan,
    cache: &mut Cache,
) -> Result<Vec<Finding>, ArmError> {
    let mut out = Vec::new();
    for inst in &judged.instances {
        let Some(seen) = observed.instances.iter().find(|o| o.name == inst.name) else {
            continue;
        };
        let account_id = inst.account_id();
        let account_read = Read::get(account_id.clone(), crate::resources::account::API_VERSION);
        let Some(account) = seen.reads.value(&account_read) else {
            continue; // not there (yet): nothing live to judge
        };
        let waiver = |allows: &str| {
            plan.instances
                .iter()
                .find(|p| p.name == inst.name)
                .and_then(|p| p.exceptions.iter().find(|e| e.allows == allows))
                .map(|e| e.describe())
        };
        connections(inst, account, plan, &mut out);
        out.extend(
            super::dns_records::findings(api, inst, account, &seen.reads, plan, cache).await?,
        );

        // The account's own assignments: the plan's read when the blueprint declares them.
        let direct: Vec<Value> = match role_assignment::read(inst)
            .and_then(|r| seen.reads.result(&r).map(|v| v.cloned()))
        {
            Some(v) => v.and_then(|v| v.as_array().cloned()).unwrap_or_default(),
            None => cache.at_scope(api, &account_id).await?.to_vec(),
        };
        let rg = format!(
            "/subscriptions/{}/resourceGroups/{}",
            inst.subscription, inst.resource_group
        );
        let inherited: Vec<Value> = cache.at_scope(api, &rg).await?.to_vec();
        let mut seen_ids: Vec<String> = Vec::new();
        for a in direct.iter().chain(inherited.iter()) {
            let (Some(id), Some(scope), Some(role_id)) = (
                str_at(a, "id"),
                str_at(a, "properties.scope"),
                str_at(a, "properties.roleDefinitionId"),
            ) else {
                continue;
            };
            let at_account = norm_id(scope) == norm_id(&account_id);
            if !(at_account || above(scope, &account_id)) || seen_ids.contains(&norm_id(id)) {
                continue;
            }
            seen_ids.push(norm_id(id));
            let principal = str_at(a, "properties.principalId").unwrap_or("?");
            let ptype = str_at(a, "properties.principalType").unwrap_or("?");
            let privileged = privileged_name(&guid_of(role_id)).is_some();
            let def = cache.role(api, &inst.subscription, role_id).await?;
            let name = role_name(def, role_id);
            let place = if at_account {
                "on the account".to_string()
            } else {
                format!("at {scope}")
            };
            let held = format!("{ptype} {principal} holds {name} {place}");
            let mut push = |rule_id: &str, path: &str, observed: String, expected: &str, w| {
                let rule = rules::rule(rule_id).expect("observed-state rules exist");
                out.push(Finding {
                    rule,
                    instance: inst.name.clone(),
                    resource_id: id.to_string(),
                    address: format!("{}/{}/{}", inst.name, rule_id, guid_of(id)),
                    evidence: vec![Evidence {
                        path: path.into(),
                        observed: Some(json!(observed)),
                        expected: Some(json!(expected)),
                    }],
                    waived_by: w,
                });
            };
            if privileged && !at_account && !declared(inst, principal, role_id) {
                push(
                    "MOAT-PA-002",
                    "properties.roleDefinitionId",
                    held.clone(),
                    "no privileged role above the account",
                    waiver("privileged-role"),
                );
            }
            let keys = def.is_some_and(|d| role_allows(d, LIST_KEYS));
            if !privileged && keys && !declared(inst, principal, role_id) {
                push(
                    "MOAT-PA-003",
                    "roleDefinition properties.permissions.actions",
                    format!("{held}, which allows {LIST_KEYS}"),
                    "no undeclared role that can list keys",
                    None,
                );
            }
            if ptype.eq_ignore_ascii_case("User") && def.is_some_and(has_data_actions) {
                // A user the blueprint declares is a reviewed decision: shown, waived by it.
                let by_blueprint = declared(inst, principal, role_id).then(|| {
                    format!(
                        "declared in the blueprint's roleAssignments for {}",
                        inst.name
                    )
                });
                push(
                    "MOAT-PA-004",
                    "properties.principalType",
                    held,
                    "Group (or ServicePrincipal for an application)",
                    by_blueprint,
                );
            }
        }
    }
    Ok(out)
}

/// `MOAT-NS-011`: connections not `Approved`, except one the plan already changes (the
/// blueprint's own endpoint, whose approval the plan shows).
fn connections(inst: &Instance, account: &Value, plan: &Plan, out: &mut Vec<Finding>) {
    let planned = |id: &str| {
        plan.instances
            .iter()
            .filter(|p| p.name == inst.name)
            .flat_map(|p| &p.changes)
            .any(|c| {
                !matches!(c.action, Action::NoOp | Action::Verified)
                    && norm_id(&c.id) == norm_id(id)
            })
    };
    let rule = rules::rule("MOAT-NS-011").expect("the connection rule exists");
    for c in account["properties"]["privateEndpointConnections"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let status = str_at(c, "properties.privateLinkServiceConnectionState.status");
        if status.is_some_and(|s| s.eq_ignore_ascii_case("Approved")) {
            continue;
        }
        let id = str_at(c, "id").unwrap_or_default();
        let endpoint = str_at(c, "properties.privateEndpoint.id").unwrap_or_default();
        if planned(id) || (!endpoint.is_empty() && planned(endpoint)) {
            continue;
        }
        out.push(Finding {
            rule,
            instance: inst.name.clone(),
            resource_id: id.to_string(),
            address: format!("{}/private-endpoint-connection/{}", inst.name, guid_of(id)),
            evidence: vec![Evidence {
                path: "properties.privateLinkServiceConnectionState.status".into(),
                observed: status.map(|s| json!(s)).or(Some(Value::Null)),
                expected: Some(json!("Approved")),
            }],
            waived_by: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_list_keys_and_not_actions_take_it_away() {
        assert!(action_matches("*", LIST_KEYS));
        assert!(action_matches("Microsoft.CognitiveServices/*", LIST_KEYS));
        assert!(action_matches(
            "microsoft.cognitiveservices/accounts/listkeys/action",
            LIST_KEYS
        ));
        assert!(action_matches(
            "Microsoft.CognitiveServices/*/action",
            LIST_KEYS
        ));
        assert!(!action_matches(
            "Microsoft.CognitiveServices/*/read",
            LIST_KEYS
        ));
        assert!(!action_matches("*/read", LIST_KEYS));
        assert!(!action_matches("Microsoft.Storage/*", LIST_KEYS));
        let def = |actions: Value, not: Value| json!({"properties": {"permissions": [{"actions": actions, "notActions": not, "dataActions": []}]}});
        assert!(role_allows(&def(json!(["*"]), json!([])), LIST_KEYS));
        assert!(!role_allows(
            &def(
                json!(["*"]),
                json!(["Microsoft.CognitiveServices/accounts/listKeys/action"])
            ),
            LIST_KEYS
        ));
        assert!(!role_allows(
            &def(json!(["Microsoft.CognitiveServices/*/read"]), json!([])),
            LIST_KEYS
        ));
        assert!(!has_data_actions(&def(json!(["*"]), json!([]))));
    }

    #[test]
    fn above_means_a_strict_ancestor_scope() {
        let acct =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a";
        assert!(above("/subscriptions/s/resourceGroups/RG", acct));
        assert!(above("/subscriptions/S", acct));
        assert!(above("/", acct));
        assert!(!above(acct, acct));
        assert!(!above("/subscriptions/s/resourceGroups/rg2", acct));
        assert!(!above("/subscriptions/s/resourceGroups/r", acct));
    }
}

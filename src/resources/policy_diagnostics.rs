//! The diagnostics guardrail (`guardrails[].controls.diagnostics`): what its two built-ins
//! find on an account's diagnostic settings, shared by the assignment kind (the blast radius)
//! and the diagnostic-setting kind (moat's own setting must satisfy the DeployIfNotExists, or
//! Azure Policy would redeploy it on the account's next write).
//!
//! - AuditIfNotExists 1b4d1c4e: compliant when a setting has a `logs[*]` entry.
//! - DeployIfNotExists 55d1f543: compliant when one setting has exactly one `audit` and one
//!   `allLogs` category-group entry, each `enabled` exactly when it is the assignment's
//!   `categoryGroup`, and `workspaceId` equal to its `logAnalytics` (the built-in's
//!   existenceCondition, docs/guardrails-design.md).

use serde_json::{json, Value};

use super::{get_str, id_eq};
use crate::blueprint::resolved::Guard;

/// The two category groups the DeployIfNotExists built-in counts.
const GROUPS: [&str; 2] = ["audit", "allLogs"];

fn param<'a>(g: &'a Guard, name: &str) -> &'a str {
    g.parameters
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Whether `setting` satisfies the existenceCondition of `g`'s built-in.
pub fn satisfies(g: &Guard, setting: &Value) -> bool {
    let logs = setting
        .pointer("/properties/logs")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if g.effect != "DeployIfNotExists" {
        return !logs.is_empty();
    }
    let group = param(g, "categoryGroup");
    let entries = |name: &str| {
        logs.iter()
            .filter(|l| {
                get_str(l, "categoryGroup").is_some_and(|c| c.eq_ignore_ascii_case(name))
                    && l["enabled"].as_bool() == Some(name.eq_ignore_ascii_case(group))
            })
            .count()
    };
    GROUPS.iter().all(|n| entries(n) == 1)
        && get_str(setting, "properties.workspaceId")
            .is_some_and(|w| id_eq(w, param(g, "logAnalytics")))
}

/// The field and observed value the blast radius quotes when none of the account's observed
/// `settings` satisfies `g`; `None` when one does, or when moat does not read the account's
/// settings (`None`: the instance declares no `controls.diagnostics`).
pub fn non_compliance(g: &Guard, settings: Option<&[Value]>) -> Option<(&'static str, String)> {
    let settings = settings?;
    if settings.iter().any(|s| satisfies(g, s)) {
        return None;
    }
    let have = if settings.is_empty() {
        "none".to_string()
    } else {
        let names: Vec<&str> = settings.iter().filter_map(|s| get_str(s, "name")).collect();
        format!(
            "{} (none matches the built-in's existence condition)",
            names.join(", ")
        )
    };
    Some(("diagnosticSettings", have))
}
/// The log entries moat adds to its own setting for a DeployIfNotExists guard deploying
/// `group`: that group enabled, the other one present and disabled, as the existenceCondition
/// counts them.
pub fn policy_logs(group: &str) -> Vec<Value> {
    GROUPS
        .iter()
        .map(|n| json!({"categoryGroup": n, "enabled": n.eq_ignore_ascii_case(group)}))
        .collect()
}

/// The risk of creating a DeployIfNotExists assignment of `g`.
pub fn deploy_risk(g: &Guard) -> String {
    format!(
        "Azure Policy deploys diagnostic setting {} (category group {}) to {} on every account created or updated in {} without a matching one, except on accounts with an exemption; its managed identity gets Log Analytics Contributor at the scope (and at the workspace when it is outside the scope)",
        param(g, "diagnosticSettingName"),
        param(g, "categoryGroup"),
        param(g, "logAnalytics"),
        g.scope
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(effect: &str) -> Guard {
        Guard {
            scope: "/subscriptions/s/resourceGroups/rg".into(),
            control: "diagnostics".into(),
            effect: effect.into(),
            members: Vec::new(),
            location: "eastus".into(),
            parameters: [
                ("logAnalytics", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w"),
                ("categoryGroup", "allLogs"),
                ("diagnosticSettingName", "moat-security"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::from(v)))
            .collect(),
            accounts: Vec::new(),
            remediate: false,
        }
    }

    #[test]
    fn the_deploy_if_not_exists_counts_both_groups_and_the_workspace() {
        let g = guard("DeployIfNotExists");
        let ws = "/subscriptions/S/resourcegroups/rg/providers/microsoft.operationalinsights/workspaces/W";
        let with =
            |logs: Vec<Value>, ws: &str| json!({"properties": {"workspaceId": ws, "logs": logs}});
        assert!(satisfies(&g, &with(policy_logs("allLogs"), ws)));
        let only_all = vec![json!({"categoryGroup": "allLogs", "enabled": true})];
        assert!(!satisfies(&g, &with(only_all.clone(), ws)));
        assert!(!satisfies(&g, &with(policy_logs("audit"), ws)));
        assert!(!satisfies(
            &g,
            &with(policy_logs("allLogs"), "/subscriptions/s/x/other")
        ));
        // The AuditIfNotExists asks only for a log entry.
        let audit = guard("AuditIfNotExists");
        assert!(satisfies(&audit, &with(only_all, "")));
        assert!(!satisfies(&audit, &with(Vec::new(), ws)));
    }
}

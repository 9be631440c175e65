//! `Microsoft.Insights/diagnosticSettings` on the account (M1).
//!
//! The azure_mgmt_monitor 0.21 crate's diagnostic settings do not compile: in its 0.21 release
//! only the `package-preview-2023-09` feature has `diagnostic_settings`, and that package fails
//! with 6 errors (`Resource: Default` not satisfied; DEPENDENCIES.md). So this kind reads through
//! its own small typed model (below) and writes raw JSON through the generic `ArmApi` calls
//! (api-version 2021-05-01-preview), with the same client, retry policy and budget as every
//! other call.
//! Managed: `workspaceId` (case-insensitive), enabled log categories / category groups and
//! metric categories (as sets), `logAnalyticsDestinationType` (absent ≡ null ≡ AzureDiagnostics).
//! Ignored: `retentionPolicy` (deprecated; servers echo `{enabled:false, days:0}`), disabled
//! entries the server echoes, `systemData`, other destinations of settings moat does not own.
//!
//! Protocol notes (ARM-PROTOCOL.md §2.10): PUT answers 200 only and is synchronous; DELETE 200 or
//! 204; the list is a single `{value}` page; errors use the flat `{code,message}` envelope
//! (handled by `arm::error::parse_error_body`); ids come back partly lower-cased.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Stage};
use super::{fingerprint, get_str, id_eq, policy_diagnostics, set_eq_ci};
use crate::arm::{extension_path, Method};
use crate::blueprint::guardrails::diagnostics_deploy;
use crate::blueprint::resolved::{Diagnostics, ExceptionKind, Instance};
use crate::model::{Action, Change, FieldChange, KindId, Write};

pub const API_VERSION: &str = "2021-05-01-preview";

/// One log entry of a setting: a `category` or a `categoryGroup` (e.g. `allLogs`, `audit`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_group: Option<String>,
    pub enabled: bool,
    /// Fields moat does not model (retentionPolicy…), kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub enabled: bool,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticSettingProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_hub_authorization_rule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_hub_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_analytics_destination_type: Option<String>,
    #[serde(default)]
    pub logs: Vec<LogSettings>,
    #[serde(default)]
    pub metrics: Vec<MetricSettings>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// A diagnostic setting as ARM returns it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DiagnosticSetting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub properties: DiagnosticSettingProperties,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// Parse a setting body.
pub fn parse_setting(v: &Value) -> Result<DiagnosticSetting, serde_json::Error> {
    serde_json::from_value(v.clone())
}

/// A category a resource offers (`diagnosticSettingsCategories`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    pub name: String,
    /// `Logs` or `Metrics`.
    pub category_type: String,
    pub category_groups: Vec<String>,
}

/// Path of the categories `resource_id` offers (a list, at [`API_VERSION`]).
pub fn categories_path(resource_id: &str) -> String {
    extension_path(
        resource_id,
        "Microsoft.Insights/diagnosticSettingsCategories",
    )
}

/// The log and metric categories in a list of `diagnosticSettingsCategories`.
pub fn categories(items: &[Value]) -> Vec<Category> {
    items
        .iter()
        .filter_map(|v| {
            let props = v.get("properties");
            let s = |k: &str| props.and_then(|p| p.get(k)).and_then(Value::as_str);
            Some(Category {
                name: v.get("name")?.as_str()?.to_string(),
                category_type: s("categoryType").unwrap_or_default().to_string(),
                category_groups: super::str_list(props.and_then(|p| p.get("categoryGroups"))),
            })
        })
        .collect()
}

/// Path of one setting on `account_id` (any resource id).
pub fn id(account_id: &str, name: &str) -> String {
    format!("{}/{name}", list_path(account_id))
}

/// Path of the list of settings on `account_id` (any resource id).
pub fn list_path(account_id: &str) -> String {
    extension_path(account_id, META.arm_type)
}

pub fn address(inst: &Instance, name: &str) -> String {
    format!("{}/diagnostic-setting/{name}", inst.name)
}

/// Enabled log categories, log category groups and metric categories of a setting.
fn enabled(s: &DiagnosticSetting) -> [Vec<String>; 3] {
    let p = &s.properties;
    let logs = |group: bool| {
        p.logs
            .iter()
            .filter(|l| l.enabled)
            .filter_map(|l| {
                if group {
                    l.category_group.clone()
                } else {
                    l.category.clone()
                }
            })
            .collect()
    };
    let metrics = p
        .metrics
        .iter()
        .filter(|m| m.enabled)
        .filter_map(|m| m.category.clone())
        .collect();
    [logs(false), logs(true), metrics]
}

fn typed(v: &Value) -> DiagnosticSetting {
    // A body that does not parse compares as empty, so the plan rewrites it.
    parse_setting(v).unwrap_or_default()
}

fn norm_dest(v: Option<&str>) -> String {
    match v {
        None | Some("") => "azurediagnostics".into(),
        Some(s) => s.to_ascii_lowercase(),
    }
}

fn body(want: &Diagnostics, policy_group: Option<&str>) -> Value {
    let mut logs: Vec<Value> = want
        .log_categories
        .iter()
        .map(|c| json!({"category": c, "enabled": true}))
        .collect();
    logs.extend(
        want.log_category_groups
            .iter()
            .filter(|g| policy_group.is_none() || !is_policy_group(g))
            .map(|g| json!({"categoryGroup": g, "enabled": true})),
    );
    if let Some(group) = policy_group {
        logs.extend(policy_diagnostics::policy_logs(group));
    }
    let metrics: Vec<Value> = want
        .metric_categories
        .iter()
        .map(|c| json!({"category": c, "enabled": true}))
        .collect();
    let mut props = json!({"workspaceId": want.workspace_id, "logs": logs, "metrics": metrics});
    if let Some(d) = &want.destination_type {
        if !d.eq_ignore_ascii_case("AzureDiagnostics") {
            props["logAnalyticsDestinationType"] = d.clone().into();
        }
    }
    json!({"properties": props})
}

/// `settings`: every diagnostic setting on the account.
///
/// Returns the setting's change, preceded by the delete of a conflicting setting when the
/// blueprint allows it (`delete-diagnostic-setting` exception), shown as a risk.
pub fn plan(inst: &Instance, settings: &[Value]) -> Vec<Change> {
    let Some(ctl) = inst.controls.diagnostics.as_ref() else {
        return Vec::new();
    };
    // A diagnostics DeployIfNotExists in the scope: moat's setting carries the group the
    // policy deploys (and the other one, disabled), so the policy finds it compliant.
    let policy = diagnostics_deploy(inst);
    let policy_group = policy
        .and_then(|g| g.parameters.get("categoryGroup"))
        .and_then(Value::as_str);
    let guarded;
    let want = match policy_group {
        Some(group) => {
            let mut w = ctl.spec.clone();
            w.log_category_groups.retain(|g| !is_policy_group(g));
            w.log_category_groups.push(group.to_string());
            guarded = w;
            &guarded
        }
        None => &ctl.spec,
    };
    let account = inst.account_id();
    let id = id(&account, &want.name);
    let observed = settings
        .iter()
        .find(|s| get_str(s, "name").is_some_and(|n| n.eq_ignore_ascii_case(&want.name)));
    let mut fields = Vec::new();
    // Live categories the blueprint drops: less is logged, a weakening.
    let mut dropped: Vec<String> = Vec::new();
    if let Some(live) = observed.map(typed) {
        let p = &live.properties;
        let ws = p.workspace_id.as_deref().unwrap_or("");
        if !id_eq(ws, &want.workspace_id) {
            fields.push(FieldChange {
                path: "properties.workspaceId".into(),
                before: Some(ws.into()),
                after: Some(want.workspace_id.clone().into()),
            });
        }
        let [cats, groups, metrics] = enabled(&live);
        for (path, live_set, want_set) in [
            ("properties.logs[category]", cats, &want.log_categories),
            (
                "properties.logs[categoryGroup]",
                groups,
                &want.log_category_groups,
            ),
            (
                "properties.metrics[category]",
                metrics,
                &want.metric_categories,
            ),
        ] {
            dropped.extend(
                live_set
                    .iter()
                    .filter(|l| !want_set.iter().any(|w| w.eq_ignore_ascii_case(l)))
                    // allLogs, which the policy's group then is, covers audit.
                    .filter(|l| !(policy_group == Some("allLogs") && is_policy_group(l)))
                    .cloned(),
            );
            if !set_eq_ci(&live_set, want_set) {
                fields.push(FieldChange {
                    path: path.into(),
                    before: Some(super::json_strs(&live_set)),
                    after: Some(super::json_strs(want_set)),
                });
            }
        }
        if let (Some(g), Some(o)) = (policy, observed) {
            let groups = fields
                .iter()
                .any(|f| f.path == "properties.logs[categoryGroup]");
            if !groups && !policy_diagnostics::satisfies(g, o) {
                fields.push(FieldChange {
                    path: "properties.logs[categoryGroup]".into(),
                    before: o.pointer("/properties/logs").cloned(),
                    after: Some(Value::Array(policy_diagnostics::policy_logs(
                        policy_group.unwrap_or_default(),
                    ))),
                });
            }
        }
        let live_dest = p.log_analytics_destination_type.as_deref();
        if norm_dest(live_dest) != norm_dest(want.destination_type.as_deref()) {
            fields.push(FieldChange {
                path: "properties.logAnalyticsDestinationType".into(),
                before: live_dest.map(Value::from),
                after: want.destination_type.clone().map(Value::from),
            });
        }
    }
    let action = super::outcome(ctl.mode, observed.is_some(), !fields.is_empty());
    let mut c = Change::new(
        address(inst, &want.name),
        KIND,
        &id,
        action,
        "security logs and metrics to Log Analytics, before the cutover so it is logged (M1)",
        fingerprint(observed),
    )
    .with_fields(fields);
    if action == Action::Update && !dropped.is_empty() {
        let what = format!("stops sending {} to the workspace", dropped.join(", "));
        let exception = inst
            .exceptions
            .iter()
            .find(|e| e.allows == ExceptionKind::ReducedLogging);
        let Some(e) = exception else {
            return vec![Change::blocked(
                c.address,
                KIND,
                id,
                format!("refusing to weaken security: {what}, and the blueprint has no `reduced-logging` exception"),
                c.observed,
            )
            .with_fields(c.fields)];
        };
        c.risk = Some(format!("weakens security: {what}"));
        c.exception = Some(format!("{}: {}", e.allows, e.reason));
    }
    if matches!(action, Action::Create | Action::Update) {
        // Azure refuses a second setting that sends the same category to the same workspace.
        let clash = settings.iter().find(|s| {
            !get_str(s, "name").is_some_and(|n| n.eq_ignore_ascii_case(&want.name))
                && get_str(s, "properties.workspaceId")
                    .is_some_and(|w| id_eq(w, &want.workspace_id))
                && enabled(&typed(s))[0].iter().any(|c| {
                    want.log_categories
                        .iter()
                        .any(|w| w.eq_ignore_ascii_case(c))
                })
        });
        let mut out = Vec::new();
        if let Some(other) = clash {
            let other_name = get_str(other, "name").unwrap_or("?").to_string();
            let allowed = inst
                .exceptions
                .iter()
                .find(|e| e.allows == ExceptionKind::DeleteDiagnosticSetting);
            let Some(exception) = allowed else {
                return vec![Change::blocked(
                    c.address,
                    KIND,
                    id,
                    format!(
                        "diagnostic setting {other_name} already sends some of these categories to the same workspace (Azure refuses duplicates): name it in the blueprint (diagnostics.name) so moat manages it, remove it, or allow moat to delete it with a `delete-diagnostic-setting` exception"
                    ),
                    c.observed,
                )];
            };
            let other_id = get_str(other, "id")
                .map(str::to_string)
                .unwrap_or_else(|| self::id(&account, &other_name));
            let mut del = Change::new(
                address(inst, &other_name),
                KIND,
                &other_id,
                Action::Delete,
                "a setting moat did not create sends the same categories to the same workspace; the blueprint allows deleting it (delete-diagnostic-setting)",
                fingerprint(Some(other)),
            )
            .with_write(Write::new(Method::Delete, &other_id, API_VERSION, None));
            del.risk = Some(format!(
                "weakens security: deletes diagnostic setting {other_name}, which moat did not create: its other destinations stop receiving logs"
            ));
            del.exception = Some(format!("{}: {}", exception.allows, exception.reason));
            c.depends_on.push(del.address.clone());
            out.push(del);
        }
        let b = body(want, policy_group);
        if action == Action::Create {
            c.fields = vec![FieldChange {
                path: "properties".into(),
                before: None,
                after: b.get("properties").cloned(),
            }];
        }
        c.write = Some(Write::new(Method::Put, &id, API_VERSION, Some(b)));
        out.push(c);
        return out;
    }
    vec![c]
}

/// `audit` or `allLogs`: the groups the diagnostics DeployIfNotExists counts.
fn is_policy_group(g: &str) -> bool {
    g.eq_ignore_ascii_case("audit") || g.eq_ignore_ascii_case("allLogs")
}

pub const KIND: KindId = KindId::new("diagnostic-setting");

pub struct DiagnosticSettingKind;

static META: Meta = Meta {
    label: "diagnostic-setting",
    arm_type: "Microsoft.Insights/diagnosticSettings",
    api_version: API_VERSION,
    shared: false,
    managed: &[
        "properties.workspaceId",
        "properties.logs",
        "properties.metrics",
        "properties.logAnalyticsDestinationType",
    ],
    read_only: &[],
    ignored: &[
        "properties.storageAccountId",
        "properties.eventHubAuthorizationRuleId",
        "properties.eventHubName",
        "properties.serviceBusRuleId",
        "properties.marketplacePartnerId",
        "properties.logs[].retentionPolicy",
        "properties.metrics[].retentionPolicy",
    ],
    first_on_lock: false,
    weak: &[],
};

impl Kind for DiagnosticSettingKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// The setting the blueprint names, when moat manages it.
    fn destroy(&self, inst: &Instance, seen: &Reads, _in_use: &InUse) -> Planned {
        let (Some(d), Some(r)) = (inst.controls.diagnostics.as_ref(), read(inst)) else {
            return Planned::default();
        };
        let setting = seen
            .items(&r)
            .iter()
            .find(|s| get_str(s, "name").is_some_and(|n| n.eq_ignore_ascii_case(&d.spec.name)));
        let Some(s) = setting.filter(|_| d.mode == crate::blueprint::resolved::Mode::Managed)
        else {
            return Planned::default();
        };
        Planned::of(
            Stage::Logging,
            [super::delete_change(
                address(inst, &d.spec.name),
                KIND,
                &id(&inst.account_id(), &d.spec.name),
                API_VERSION,
                "the diagnostic setting the blueprint names (moat created it)",
                "the account's logs and metrics stop flowing to the workspace (the workspace and the logs already sent stay)",
                s,
            )],
        )
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        read(inst).into_iter().collect()
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        match read(inst) {
            Some(r) => Planned::of(Stage::Logging, plan(inst, seen.items(&r))),
            None => Planned::default(),
        }
    }
}

/// Every diagnostic setting on the account.
pub fn read(inst: &Instance) -> Option<Read> {
    inst.controls
        .diagnostics
        .as_ref()
        .map(|_| Read::list(list_path(&inst.account_id()), API_VERSION))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_view_round_trips_without_loss() {
        // Shape of Microsoft's example (createOrUpdateDiagnosticSettingCategory); the full
        // examples are exercised in tests/suite/arm_diagnostics.rs.
        let body = serde_json::json!({
            "id": "/subscriptions/s/resourcegroups/rg/providers/microsoft.logic/workflows/w/providers/microsoft.insights/diagnosticSettings/mysetting",
            "type": "Microsoft.Insights/diagnosticSettings",
            "name": "mysetting",
            "properties": {"workspaceId": "", "marketplacePartnerId": "/x",
                "logs": [{"categoryGroup": "allLogs", "enabled": true,
                          "retentionPolicy": {"enabled": false, "days": 0}}],
                "metrics": [{"category": "AllMetrics", "enabled": false}],
                "logAnalyticsDestinationType": "Dedicated"}
        });
        let typed = parse_setting(&body).unwrap();
        assert_eq!(typed.name.as_deref(), Some("mysetting"));
        assert_eq!(
            typed.properties.logs[0].category_group.as_deref(),
            Some("allLogs")
        );
        assert_eq!(serde_json::to_value(&typed).unwrap(), body);
        assert!(parse_setting(&serde_json::json!({"properties": []})).is_err());
    }

    #[test]
    fn paths_are_built_on_the_resource_id() {
        assert_eq!(
            id("subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/", "moat"),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/providers/Microsoft.Insights/diagnosticSettings/moat"
        );
    }
}

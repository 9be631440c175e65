//! Microsoft.Insights diagnostic settings (api-version 2021-05-01-preview), called through the
//! generic path-based [`ArmApi`] verbs.
//!
//! Why not azure_mgmt_monitor: in its 0.21 release only the `package-preview-2023-09` feature has
//! `diagnostic_settings`, and that package does not compile (6 errors, `Resource: Default` not
//! satisfied; see ../shared/DEPENDENCIES.md). So moat keeps a small typed model for reading and
//! sends raw JSON through the same client, retry policy and budget as every other call.
//!
//! Protocol notes (ARM-PROTOCOL.md §2.10): PUT answers 200 only and is synchronous; DELETE 200 or
//! 204; the list is a single `{value}` page; errors use the flat `{code,message}` envelope
//! (handled by [`super::error::parse_error_body`]); ids come back partly lower-cased.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ArmApi, ArmError, Precondition};

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

/// A category a resource offers (`diagnosticSettingsCategories`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    pub name: String,
    /// `Logs` or `Metrics`.
    pub category_type: String,
    pub category_groups: Vec<String>,
}

fn resource_path(resource_id: &str) -> String {
    format!("/{}", resource_id.trim_matches('/'))
}

/// Path of one setting on `resource_id`.
pub fn setting_path(resource_id: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Insights/diagnosticSettings/{name}",
        resource_path(resource_id)
    )
}

fn protocol(path: &str, e: serde_json::Error) -> ArmError {
    ArmError::Protocol {
        method: super::Method::Get,
        resource: path.to_string(),
        message: format!("diagnostic setting does not parse: {e}"),
    }
}

/// Parse a setting body.
pub fn parse_setting(path: &str, v: &Value) -> Result<DiagnosticSetting, ArmError> {
    serde_json::from_value(v.clone()).map_err(|e| protocol(path, e))
}

/// GET one setting (raw JSON, so that writes can be built from what ARM returned).
pub async fn get(
    api: &dyn ArmApi,
    resource_id: &str,
    name: &str,
) -> Result<Option<Value>, ArmError> {
    api.get(&setting_path(resource_id, name), API_VERSION).await
}

/// All settings on a resource (the list is not paged; `list` stops at the absent nextLink).
pub async fn list(api: &dyn ArmApi, resource_id: &str) -> Result<Vec<Value>, ArmError> {
    let path = format!(
        "{}/providers/Microsoft.Insights/diagnosticSettings",
        resource_path(resource_id)
    );
    api.list(&path, API_VERSION).await
}

/// All settings on a resource, typed.
pub async fn list_typed(
    api: &dyn ArmApi,
    resource_id: &str,
) -> Result<Vec<DiagnosticSetting>, ArmError> {
    let path = format!(
        "{}/providers/Microsoft.Insights/diagnosticSettings",
        resource_path(resource_id)
    );
    list(api, resource_id)
        .await?
        .iter()
        .map(|v| parse_setting(&path, v))
        .collect()
}

/// Create or replace a setting (synchronous, 200).
pub async fn put(
    api: &dyn ArmApi,
    resource_id: &str,
    name: &str,
    body: &Value,
) -> Result<Option<Value>, ArmError> {
    api.put(
        &setting_path(resource_id, name),
        API_VERSION,
        body,
        Precondition::None,
    )
    .await
}

/// Delete a setting; deleting one that does not exist succeeds.
pub async fn delete(api: &dyn ArmApi, resource_id: &str, name: &str) -> Result<(), ArmError> {
    api.delete(
        &setting_path(resource_id, name),
        API_VERSION,
        Precondition::None,
    )
    .await
}

/// The log and metric categories the resource offers.
pub async fn categories(api: &dyn ArmApi, resource_id: &str) -> Result<Vec<Category>, ArmError> {
    let path = format!(
        "{}/providers/Microsoft.Insights/diagnosticSettingsCategories",
        resource_path(resource_id)
    );
    let items = api.list(&path, API_VERSION).await?;
    Ok(items
        .iter()
        .filter_map(|v| {
            let props = v.get("properties");
            let s = |k: &str| props.and_then(|p| p.get(k)).and_then(Value::as_str);
            Some(Category {
                name: v.get("name")?.as_str()?.to_string(),
                category_type: s("categoryType").unwrap_or_default().to_string(),
                category_groups: props
                    .and_then(|p| p.get("categoryGroups"))
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect())
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
        let typed = parse_setting("/x", &body).unwrap();
        assert_eq!(typed.name.as_deref(), Some("mysetting"));
        assert_eq!(
            typed.properties.logs[0].category_group.as_deref(),
            Some("allLogs")
        );
        assert_eq!(serde_json::to_value(&typed).unwrap(), body);
        assert!(parse_setting("/x", &serde_json::json!({"properties": []})).is_err());
    }

    #[test]
    fn paths_are_built_on_the_resource_id() {
        assert_eq!(
            setting_path("subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/", "moat"),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/providers/Microsoft.Insights/diagnosticSettings/moat"
        );
    }
}

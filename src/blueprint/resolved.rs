//! The resolved blueprint: what the planner consumes.
//!
//! The YAML model (`model.rs`) is what users write: profiles, defaults, per-instance overrides,
//! optional fields. Loading (`load.rs`) validates it, applies profiles and defaults, and produces
//! these plain, fully-resolved values. Nothing here is optional unless the control itself is
//! optional; the planner never has to guess a default.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub use super::schema::ExceptionKind;
use super::schema::CONTROLS;

/// A validated, resolved blueprint document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blueprint {
    /// The file it was loaded from (for messages only).
    pub source: PathBuf,
    /// sha256 (hex) of the file bytes plus every imported file, in load order.
    pub digest: String,
    pub instances: Vec<Instance>,
    /// Audit findings known and kept (top-level `acknowledged:`), in file order.
    #[serde(default)]
    pub acknowledged: Vec<Acknowledgement>,
}

/// A reviewed observed-state audit finding on one resource (`acknowledged:`): audit shows it
/// waived until `expires`. Never read by the planner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The rule id (`MOAT-PA-002`…), one of `schema::ACKNOWLEDGEABLE`.
    pub rule: String,
    /// ARM id of the resource the finding is on.
    pub resource: String,
    pub reason: String,
    pub expires: Option<String>,
    /// Expired on the day the blueprint was loaded: audit reports the finding again.
    pub expired: bool,
    /// `file:line:column` of the entry, for messages.
    pub at: String,
}

impl Acknowledgement {
    /// Whether it waives the finding of `rule` on `resource_id` (ids compare case-insensitively).
    pub fn covers(&self, rule: &str, resource_id: &str) -> bool {
        !self.expired
            && self.rule == rule
            && crate::values::norm_id(&self.resource) == crate::values::norm_id(resource_id)
    }

    /// How an audit report quotes it.
    pub fn describe(&self) -> String {
        match &self.expires {
            Some(d) => format!("acknowledged until {d}: {}", self.reason),
            None => format!("acknowledged: {}", self.reason),
        }
    }
}

/// Who converges a control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// moat converges the control (creates / updates; deletes only what it owns).
    Managed,
    /// moat only checks it and reports drift as a `verify` finding; it never writes it.
    Verify,
}

/// One Cognitive Services account and the desired state of its controls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Logical name, unique in the blueprint; used in plan addresses (`NAME/kind/...`).
    pub name: String,
    pub subscription: String,
    pub resource_group: String,
    pub account_name: String,
    /// Azure region as written (compare case/space-insensitively).
    pub location: String,
    /// `OpenAI`, `AIServices`, ...
    pub kind: String,
    /// Account SKU name, `S0` by default.
    pub sku: String,
    /// I2. `None` means the blueprint does not declare one (the plan blocks when a private endpoint
    /// is wanted and the live account has none).
    pub custom_subdomain: Option<String>,
    /// Tags moat sets on the account when it creates it (merged, never removed, on existing ones).
    pub tags: BTreeMap<String, String>,
    /// Whether moat may create the account when it does not exist (issue 10); when false, a missing
    /// account is a blocked change.
    pub create_if_missing: bool,
    /// What to do when the account name is held by a soft-deleted account.
    pub soft_delete: SoftDeleteAction,
    pub controls: Controls,
    /// Documented exceptions to the strict baseline (already checked by the loader).
    pub exceptions: Vec<Exception>,
    /// The blueprint's `guardrails` whose scope covers the account (Azure Policy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<Guard>,
    /// `keyRotation`: the two-key swap `moat rotate` runs (only where keys stay on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_rotation: Option<KeyRotation>,
}

/// Where `moat rotate` keeps the instance's active key, and how often it swaps keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRotation {
    /// ARM id of the Key Vault (`Microsoft.KeyVault/vaults`).
    pub vault: String,
    /// Name of the secret in that vault.
    pub secret: String,
    /// Period between rotations, in seconds.
    pub every_secs: u64,
    /// How long clients get to move to the new key before the old one is regenerated, seconds.
    pub overlap_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SoftDeleteAction {
    /// Plan blocks and explains the two ways out.
    Block,
    /// Recreate with `properties.restore: true`.
    Restore,
    /// Purge the deleted account first (shown as a risk).
    Purge,
}

/// Every control of HARDENING.md's table. `None` = the blueprint does not mention it (moat neither
/// writes nor checks it).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Controls {
    /// N1
    pub private_endpoint: Option<Control<PrivateEndpoint>>,
    /// N2
    pub private_dns: Option<Control<PrivateDns>>,
    /// N3
    pub dns_zone_group: Option<Control<DnsZoneGroup>>,
    /// N4
    pub nsg: Option<Control<Nsg>>,
    /// N5
    pub network_access: Option<Control<NetworkAccess>>,
    /// N6
    pub outbound: Option<Control<Outbound>>,
    /// I1
    pub local_auth: Option<Control<LocalAuth>>,
    /// I3
    pub identity: Option<Control<Identity>>,
    /// I4
    pub role_assignments: Option<Control<RoleAssignments>>,
    /// D1
    pub encryption: Option<Control<Encryption>>,
    /// M1
    pub diagnostics: Option<Control<Diagnostics>>,
    /// C1
    pub rai_policy: Option<Control<RaiPolicy>>,
    /// C2 (+ greenfield deployments, issue 10)
    pub deployments: Option<Control<Deployments>>,
    /// The controls declared by the schema table alone (`GENERIC_CONTROLS`), by their key in
    /// `controls:`; read them with [`Controls::generic`].
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "generic_controls"
    )]
    pub generic: BTreeMap<&'static str, Control<Value>>,
}

impl Controls {
    /// A generic control by its key in `controls:` (e.g. `defenderForAI`), when declared: its
    /// fields as JSON with the table's defaults filled in, keys as in YAML, without `mode`.
    pub fn generic(&self, key: &str) -> Option<&Control<Value>> {
        self.generic.get(key)
    }
}

/// Generic controls are keyed by the schema's own names, so a key must be a known control.
fn generic_controls<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<&'static str, Control<Value>>, D::Error> {
    BTreeMap::<String, Control<Value>>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| match CONTROLS.field(&k) {
            Some(f) => Ok((f.name, v)),
            None => Err(serde::de::Error::custom(format!("unknown control `{k}`"))),
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control<T> {
    pub mode: Mode,
    pub spec: T,
}

impl Control<Value> {
    /// A string field of a generic control (`state`), defaults applied.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.spec.get(key)?.as_str()
    }
}

/// N1: a private endpoint for group `account`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivateEndpoint {
    /// Endpoint name (default `{account}-pe`).
    pub name: String,
    /// Subscription and resource group of the endpoint (default: the instance's).
    pub subscription: String,
    pub resource_group: String,
    /// Location of the endpoint (default: the instance's).
    pub location: String,
    /// Full ARM id of the endpoint subnet.
    pub subnet_id: String,
    /// Full ARM id of the VNet that holds the subnet (derived from `subnet_id`).
    pub vnet_id: String,
    /// Set the subnet's `privateEndpointNetworkPolicies` to this value (e.g. `Enabled`) so NSG rules
    /// apply to the endpoint; `None` leaves the subnet alone.
    pub subnet_network_policies: Option<String>,
}

/// N2: privatelink DNS zones and their VNet links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivateDns {
    pub subscription: String,
    pub resource_group: String,
    /// Explicit zone names; empty = ask the account's `privateLinkResources` (`requiredZoneNames`),
    /// falling back to the zones for the account kind.
    pub zones: Vec<String>,
    /// VNets to link every zone to (full ids); defaults to the endpoint's VNet.
    pub vnet_links: Vec<String>,
    /// Name of the link resource in each zone; `{vnet}` stands for the VNet's name (default
    /// `{vnet}-link`).
    pub link_name: String,
}

/// N3
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsZoneGroup {
    /// Name of the zone group (default `default`).
    pub name: String,
}

/// N4
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nsg {
    /// Full id of the NSG attached to the endpoint subnet.
    pub nsg_id: String,
    pub rules: Vec<NsgRule>,
    /// Delete security rules on this NSG that are not declared here (only those moat created,
    /// unless this is true).
    pub remove_undeclared_rules: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NsgRule {
    pub name: String,
    pub priority: u16,
    /// `Inbound` | `Outbound`
    pub direction: String,
    /// `Allow` | `Deny`
    pub access: String,
    /// `Tcp` | `Udp` | `Icmp` | `*` ...
    pub protocol: String,
    pub source_address_prefixes: Vec<String>,
    pub source_port_ranges: Vec<String>,
    pub destination_address_prefixes: Vec<String>,
    pub destination_port_ranges: Vec<String>,
    pub description: Option<String>,
}

/// N5
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkAccess {
    /// `Disabled` (baseline) or `Enabled` (exception).
    pub public_network_access: String,
    /// `Deny` (baseline) or `Allow` (exception).
    pub default_action: String,
    /// `None` | `AzureServices`
    pub bypass: String,
    pub ip_rules: Vec<String>,
    /// Subnet ids allowed through the account firewall.
    pub virtual_network_rules: Vec<String>,
}

/// N6
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbound {
    pub restrict: bool,
    pub allowed_fqdns: Vec<String>,
}

/// I1
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalAuth {
    /// `true` in the baseline (`disableLocalAuth: true`).
    pub disabled: bool,
}

/// I3
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// `SystemAssigned` | `UserAssigned` | `SystemAssigned, UserAssigned`
    pub r#type: String,
    /// Full ids of user-assigned identities.
    pub user_assigned: Vec<String>,
}

/// I4
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleAssignments {
    pub assignments: Vec<RoleAssignment>,
    /// Remove direct (non-inherited) assignments at the account scope that hold a privileged role
    /// (Owner, Contributor, User Access Administrator, Cognitive Services Contributor) and are not
    /// declared. Off by default; when on, each delete is shown loudly.
    pub remove_undeclared_privileged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleAssignment {
    /// Entra object id (GUID, lower-case).
    pub principal_id: String,
    /// `User` | `Group` | `ServicePrincipal` | `ForeignGroup`
    pub principal_type: String,
    /// Role definition GUID (lower-case), resolved from a built-in name when one was written.
    pub role_definition_guid: String,
    /// The role's display name when known (built-in), else the GUID.
    pub role_name: String,
    pub description: Option<String>,
}

/// D1
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encryption {
    /// `Microsoft.KeyVault` (CMK) or `Microsoft.CognitiveServices` (Microsoft-managed).
    pub key_source: String,
    pub key_vault_uri: Option<String>,
    pub key_name: Option<String>,
    pub key_version: Option<String>,
    /// Full ARM id of the vault that holds the key (the scope of the key access).
    pub key_vault_id: Option<String>,
    /// Client id of the user-assigned identity that reads the key, when not system-assigned.
    pub identity_client_id: Option<String>,
    /// How the identity gets access to the key: granted by moat, or only verified.
    pub key_access: KeyAccess,
}

/// D1: how the account's identity gets access to the key (`controls.encryption.keyAccess`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAccess {
    /// moat grants Key Vault Crypto Service Encryption User on the vault (a role it owns).
    #[default]
    Grant,
    /// moat checks that the access exists (role or access policy) and never writes it.
    Verify,
}

/// M1
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// Diagnostic setting name (default `moat-security`).
    pub name: String,
    /// Full id of the Log Analytics workspace.
    pub workspace_id: String,
    /// Log categories (`Audit`, `RequestResponse`, `Trace`, `AzureOpenAIRequestUsage`).
    pub log_categories: Vec<String>,
    /// Log category groups (`allLogs`, `audit`), alternative to categories.
    pub log_category_groups: Vec<String>,
    /// Metric categories (`AllMetrics`).
    pub metric_categories: Vec<String>,
    /// `Dedicated` (resource-specific tables) or `None` (AzureDiagnostics).
    pub destination_type: Option<String>,
}

/// C1
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaiPolicy {
    pub name: String,
    /// `Blocking` | `Default` | `Deferred` | `Asynchronous_filter`
    pub mode: String,
    pub base_policy_name: String,
    pub content_filters: Vec<ContentFilter>,
    /// Also remove live filters not listed (otherwise they keep their live settings).
    #[serde(default)]
    pub remove_undeclared_filters: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentFilter {
    /// `Hate`, `Sexual`, `Violence`, `Selfharm`, `Jailbreak`, `Indirect Attack`, ...
    pub name: String,
    /// `Prompt` | `Completion`
    pub source: String,
    pub enabled: bool,
    pub blocking: bool,
    /// `Low` | `Medium` | `High`; `None` for filters where severity does not apply.
    pub severity_threshold: Option<String>,
}

/// C2
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployments {
    /// Re-bind every existing deployment (listed or not) to the instance's RAI policy.
    pub bind_all_to_rai_policy: bool,
    /// Deployments moat creates when missing (issue 10) and keeps bound to the policy.
    pub declared: Vec<Deployment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub name: String,
    pub model_format: String,
    pub model_name: String,
    pub model_version: Option<String>,
    pub sku_name: String,
    pub capacity: u32,
    pub version_upgrade_option: Option<String>,
}

/// One control enforced by policy at a scope that covers the instance carrying it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    /// `/subscriptions/{s}` or `/subscriptions/{s}/resourceGroups/{rg}` (subscription lower-cased).
    pub scope: String,
    /// The control's key (`localAuth`).
    pub control: String,
    /// The policy effect as ARM spells it (`Deny`, `Audit`).
    pub effect: String,
    /// Names of every instance of the blueprint in the scope, in blueprint order: the
    /// assignment waits for their hardening.
    pub members: Vec<String>,
    /// The account ids of those instances: the accounts the plan hardens or exempts itself, so
    /// a remediation is planned only for the other accounts of the scope.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Where a Modify / DeployIfNotExists assignment keeps its managed identity: the location
    /// of the first instance in the scope (ARM requires one with an identity).
    #[serde(default)]
    pub location: String,
    /// The built-in's parameters other than `effect`, as the assignment carries them
    /// (`logAnalytics`, `categoryGroup`, `diagnosticSettingName` of the diagnostics
    /// DeployIfNotExists), derived from the instances in the scope.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Value>,
    /// `remediate` names the control: moat plans a remediation task for the existing accounts
    /// the assignment finds non-compliant (docs/guardrails.md).
    #[serde(default)]
    pub remediate: bool,
}

/// A documented weakening of the strict baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exception {
    /// What it allows.
    pub allows: ExceptionKind,
    pub reason: String,
    /// Optional expiry date (YYYY-MM-DD), after which validation fails and plan and apply hold
    /// the instance back.
    pub expires: Option<String>,
    /// Days from the day the blueprint was loaded to `expires` (negative: expired).
    #[serde(default)]
    pub days_left: Option<i64>,
}

impl Instance {
    /// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}`
    pub fn account_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.CognitiveServices/accounts/{}",
            self.subscription, self.resource_group, self.account_name
        )
    }

    pub fn has_exception(&self, allows: ExceptionKind) -> bool {
        self.exceptions.iter().any(|e| e.allows == allows)
    }
}

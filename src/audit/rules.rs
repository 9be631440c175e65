//! The audit rule table: which planned change, on which ARM property, is which finding.
//!
//! Kind-specific knowledge of the audit lives here and nowhere else: a rule matches a plan change
//! by its kind label and, for account properties, by the ARM property path of a changed field.
//! Rule ids are stable: a rule may be retired, never renumbered.

use serde::Serialize;

/// How bad a finding is. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parse a `--fail-on` value (case-insensitive).
    pub fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|v| v.label().eq_ignore_ascii_case(s))
    }
}

/// One audit rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable id, e.g. `MOAT-NS-001`.
    pub id: &'static str,
    pub title: &'static str,
    /// Microsoft cloud security benchmark control(s).
    pub mcsb: &'static str,
    pub severity: Severity,
    /// The built-in Azure Policy definition (GUID) checking the same thing, where one exists.
    pub policy: Option<&'static str>,
    /// The blueprint control that fixes it.
    pub remediation: &'static str,
    /// The plan change kind label this rule matches.
    #[serde(skip)]
    pub kind: &'static str,
    /// For an account change: the ARM property path (or a prefix of it) of a changed field;
    /// empty = any change of the kind.
    #[serde(skip)]
    pub path: &'static str,
}

/// Every rule, in id order.
pub const RULES: &[Rule] = &[
    Rule {
        id: "MOAT-NS-001",
        title: "public network access is enabled",
        mcsb: "NS-2",
        severity: Severity::High,
        policy: Some("037eea7a-bd0a-46c5-9a66-03aea78705d3"),
        remediation: "controls.networkAccess.publicNetworkAccess: Disabled",
        kind: "account",
        path: "properties.publicNetworkAccess",
    },
    Rule {
        id: "MOAT-NS-002",
        title: "network ACLs do not deny by default",
        mcsb: "NS-2",
        severity: Severity::Medium,
        policy: Some("037eea7a-bd0a-46c5-9a66-03aea78705d3"),
        remediation:
            "controls.networkAccess.defaultAction: Deny (with ipRules / virtualNetworkRules)",
        kind: "account",
        path: "properties.networkAcls",
    },
    Rule {
        id: "MOAT-NS-003",
        title: "no private endpoint for the account",
        mcsb: "NS-2",
        severity: Severity::Medium,
        policy: Some("d6759c02-b87f-42b7-892e-71b3f471d782"),
        remediation: "controls.privateEndpoint",
        kind: "private-endpoint",
        path: "",
    },
    Rule {
        id: "MOAT-NS-004",
        title: "outbound network access is not restricted",
        mcsb: "DP-2",
        severity: Severity::Low,
        policy: None,
        remediation: "controls.outbound.restrict: true",
        kind: "account",
        path: "properties.restrictOutboundNetworkAccess",
    },
    Rule {
        id: "MOAT-NS-005",
        title: "outbound FQDN allow-list differs from the blueprint",
        mcsb: "DP-2",
        severity: Severity::Low,
        policy: None,
        remediation: "controls.outbound.allowedFqdns",
        kind: "account",
        path: "properties.allowedFqdnList",
    },
    Rule {
        id: "MOAT-IM-001",
        title: "local (key) authentication is enabled",
        mcsb: "IM-1",
        severity: Severity::High,
        policy: Some("71ef260a-8f18-47b7-abcb-62d0673d94dc"),
        remediation: "controls.localAuth.disabled: true",
        kind: "account",
        path: "properties.disableLocalAuth",
    },
    Rule {
        id: "MOAT-IM-002",
        title: "the account has no managed identity",
        mcsb: "IM-3",
        severity: Severity::Medium,
        policy: Some("fe3fd216-4f83-4fc1-8984-2bbec80a3418"),
        remediation: "controls.identity.type: SystemAssigned",
        kind: "account",
        path: "identity",
    },
    Rule {
        id: "MOAT-PA-001",
        title: "role assignments differ from the declared least-privilege set",
        mcsb: "PA-7",
        severity: Severity::Medium,
        policy: None,
        remediation: "controls.roleAssignments",
        kind: "role-assignment",
        path: "",
    },
    Rule {
        id: "MOAT-DP-001",
        title: "data is not encrypted with a customer-managed key",
        mcsb: "DP-5",
        severity: Severity::Low,
        policy: Some("67121cc7-ff39-4ab8-b7e3-95b84dab487d"),
        remediation: "controls.encryption.keySource: Microsoft.KeyVault",
        kind: "account",
        path: "properties.encryption",
    },
    Rule {
        id: "MOAT-DP-002",
        title: "a soft-deleted account is pending purge",
        mcsb: "DP-8",
        severity: Severity::Low,
        policy: None,
        remediation: "purge it (or restore it and harden it with softDelete: restore)",
        kind: DELETED_ACCOUNT,
        path: "",
    },
    Rule {
        id: "MOAT-LT-001",
        title: "diagnostic logs are not sent to Log Analytics",
        mcsb: "LT-3",
        severity: Severity::Medium,
        policy: Some("1b4d1c4e-934c-4703-944c-27c82c06bebb"),
        remediation: "controls.diagnostics",
        kind: "diagnostic-setting",
        path: "",
    },
    Rule {
        id: "MOAT-LT-002",
        title: "Microsoft Defender for AI services is not enabled",
        mcsb: "LT-1",
        severity: Severity::Medium,
        policy: None,
        remediation: "controls.defenderForAI.state: Enabled",
        kind: "defender-for-ai",
        path: "",
    },
    Rule {
        id: "MOAT-CF-001",
        title: "the strict content filter (RAI policy) is missing or weaker",
        mcsb: "AI (no MCSB control)",
        severity: Severity::Medium,
        policy: None,
        remediation: "controls.raiPolicy",
        kind: "rai-policy",
        path: "",
    },
    Rule {
        id: "MOAT-CF-002",
        title: "a deployment is not bound to the strict content filter",
        mcsb: "AI (no MCSB control)",
        severity: Severity::Medium,
        policy: None,
        remediation: "controls.deployments.bindAllToRaiPolicy: true",
        kind: "deployment",
        path: "properties.raiPolicyName",
    },
];

/// The pseudo-kind of a finding on a soft-deleted account: found by discovery, never planned.
pub const DELETED_ACCOUNT: &str = "deleted-account";

/// The rule a blueprint exception waives (by its `allows:` name), for an exception the plan
/// shows no change for (the blueprint already declares the weaker value live state has).
pub fn rule_waived_by(allows: &str) -> Option<&'static Rule> {
    let id = match allows {
        "public-network-access" => "MOAT-NS-001",
        "network-bypass" => "MOAT-NS-002",
        "outbound-unrestricted" => "MOAT-NS-004",
        "local-auth" => "MOAT-IM-001",
        "no-managed-identity" => "MOAT-IM-002",
        "privileged-role" => "MOAT-PA-001",
        "reduced-logging" => "MOAT-LT-001",
        "defender-for-ai-disabled" => "MOAT-LT-002",
        "content-filter" => "MOAT-CF-001",
        _ => return None,
    };
    rule(id)
}

/// Whether the blueprint (or the baseline) judges `rule` for an instance with these controls:
/// a rule whose control is not declared is not checked (JUnit shows it skipped, not passed).
pub fn judged_by(rule: &Rule, c: &crate::blueprint::resolved::Controls) -> bool {
    match rule.id {
        "MOAT-NS-001" | "MOAT-NS-002" => c.network_access.is_some(),
        "MOAT-NS-003" => c.private_endpoint.is_some(),
        "MOAT-NS-004" | "MOAT-NS-005" => c.outbound.is_some(),
        "MOAT-IM-001" => c.local_auth.is_some(),
        "MOAT-IM-002" => c.identity.is_some(),
        "MOAT-PA-001" => c.role_assignments.is_some(),
        "MOAT-DP-001" => c.encryption.is_some(),
        "MOAT-LT-001" => c.diagnostics.is_some(),
        "MOAT-LT-002" => c.generic("defenderForAI").is_some(),
        "MOAT-CF-001" => c.rai_policy.is_some(),
        "MOAT-CF-002" => c.deployments.is_some(),
        _ => false,
    }
}

/// The rule for a changed field (`Some(path)`) or a whole change (`None`) of a kind.
pub fn rule_for(kind: &str, path: Option<&str>) -> Option<&'static Rule> {
    RULES.iter().find(|r| {
        r.kind == kind
            && match path {
                None => r.path.is_empty(),
                Some(p) => {
                    r.path.is_empty()
                        || p == r.path
                        || p.strip_prefix(r.path).is_some_and(|t| t.starts_with('.'))
                }
            }
    })
}

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

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
    /// empty = any change of the kind. [`OBSERVED`] rules are never matched to a change.
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
        id: "MOAT-NS-006",
        title: "a privatelink DNS zone is missing",
        mcsb: "NS-2",
        severity: Severity::Medium,
        policy: None,
        remediation: "controls.privateDns",
        kind: "private-dns-zone",
        path: "",
    },
    Rule {
        id: "MOAT-NS-007",
        title: "a privatelink DNS zone is not linked to the endpoint's VNet",
        mcsb: "NS-2",
        severity: Severity::Medium,
        policy: None,
        remediation: "controls.privateDns",
        kind: "vnet-link",
        path: "",
    },
    Rule {
        id: "MOAT-NS-008",
        title: "the private endpoint's DNS zone group is missing or wrong",
        mcsb: "NS-2",
        severity: Severity::Medium,
        policy: None,
        remediation: "controls.dnsZoneGroup",
        kind: "dns-zone-group",
        path: "",
    },
    Rule {
        id: "MOAT-NS-009",
        title: "an NSG rule for the endpoint subnet is missing or weaker",
        mcsb: "NS-1",
        severity: Severity::Medium,
        policy: None,
        remediation: "controls.nsg.rules",
        kind: "security-rule",
        path: "",
    },
    Rule {
        id: "MOAT-NS-010",
        title: "the endpoint subnet's private endpoint network policies differ",
        mcsb: "NS-1",
        severity: Severity::Low,
        policy: None,
        remediation: "controls.privateEndpoint.subnetNetworkPolicies: Enabled",
        kind: "subnet",
        path: "",
    },
    Rule {
        id: "MOAT-NS-011",
        title: "a private endpoint connection is not approved",
        mcsb: "NS-2",
        severity: Severity::Medium,
        policy: None,
        remediation: "approve the connection (az network private-endpoint-connection approve) or delete it; controls.privateEndpoint creates an approved one",
        kind: OBSERVED,
        path: "",
    },
    Rule {
        id: "MOAT-NS-012",
        title: "a privatelink A record of the account is missing, points elsewhere or is stale",
        mcsb: "NS-2",
        severity: Severity::Medium,
        policy: None,
        remediation: "controls.dnsZoneGroup (delete the record by hand and let the zone group write it again, or remove the stale address)",
        kind: OBSERVED,
        path: "",
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
        id: "MOAT-IM-003",
        title: "API keys are older than the rotation period",
        mcsb: "IM-8",
        severity: Severity::Medium,
        policy: None,
        remediation: "moat rotate (keyRotation.every)",
        kind: OBSERVED,
        path: "",
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
        id: "MOAT-PA-002",
        title: "a privileged role is inherited from the resource group or subscription",
        mcsb: "PA-7",
        severity: Severity::High,
        policy: None,
        remediation: "remove the assignment at the resource group or subscription, grant a data-plane role on the account (controls.roleAssignments)",
        kind: OBSERVED,
        path: "",
    },
    Rule {
        id: "MOAT-PA-003",
        title: "an undeclared principal holds a role that can list the account's keys",
        mcsb: "PA-7",
        severity: Severity::High,
        policy: None,
        remediation: "remove the assignment, or declare it in controls.roleAssignments with a role without listKeys/action",
        kind: OBSERVED,
        path: "",
    },
    Rule {
        id: "MOAT-PA-004",
        title: "a user holds a data-plane role directly, not through a group",
        mcsb: "PA-7",
        severity: Severity::Low,
        policy: None,
        remediation: "assign the role to an Entra group the user is in (controls.roleAssignments principalType: Group)",
        kind: OBSERVED,
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
        id: "MOAT-LT-003",
        title: "an alert rule (M2) or its action group is missing or weaker",
        mcsb: "LT-1",
        severity: Severity::Medium,
        policy: None,
        remediation: "controls.alerts",
        kind: "metric-alert",
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
    Rule {
        id: "MOAT-GV-001",
        title: "a guardrail is missing, weaker than declared, or waived by an exemption moat did not make",
        mcsb: "PV-2",
        severity: Severity::Medium,
        policy: None,
        remediation: "guardrails",
        kind: OBSERVED,
        path: "",
    },
];

/// The pseudo-kind of a finding on a soft-deleted account: found by discovery, never planned.
pub const DELETED_ACCOUNT: &str = "deleted-account";

/// The pseudo-kind of a rule judged on observed state (`audit::observed_rules`), not on a plan
/// change: moat's plan never changes what it does not own (an inherited assignment, a
/// connection another team's endpoint asked for).
pub const OBSERVED: &str = "observed";

/// The PSRule for Azure rule and the Checkov check (ARM / Terraform) judging the same thing as a
/// rule, where one exists: (rule id, PSRule, Checkov). Verified against their sources; a rule
/// missing here has neither.
pub const EQUIVALENTS: &[(&str, Option<&str>, Option<&str>)] = &[
    (
        "MOAT-NS-001",
        Some("Azure.AI.PublicAccess"),
        Some("CKV_AZURE_134"),
    ),
    ("MOAT-NS-002", Some("Azure.AI.PublicAccess"), None),
    ("MOAT-NS-003", Some("Azure.AI.PrivateEndpoints"), None),
    ("MOAT-IM-001", Some("Azure.AI.DisableLocalAuth"), None),
    (
        "MOAT-IM-002",
        Some("Azure.Cognitive.ManagedIdentity"),
        Some("CKV_AZURE_238"),
    ),
];

/// (PSRule rule, Checkov check) equivalent to `rule`.
pub fn equivalents(rule: &Rule) -> (Option<&'static str>, Option<&'static str>) {
    EQUIVALENTS
        .iter()
        .find(|(id, _, _)| *id == rule.id)
        .map_or((None, None), |(_, p, c)| (*p, *c))
}

/// Further plan kinds of a rule whose `kind` names the first: (kind label, rule id).
const ALSO: &[(&str, &str)] = &[
    ("log-alert", "MOAT-LT-003"),
    ("activity-log-alert", "MOAT-LT-003"),
    ("action-group", "MOAT-LT-003"),
];

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

/// [`judged_by`] for an instance: `MOAT-GV-001` is judged where the blueprint declares a
/// guardrail whose scope covers the instance.
pub fn judged_for(rule: &Rule, inst: &crate::blueprint::resolved::Instance) -> bool {
    if rule.id == "MOAT-GV-001" {
        return !inst.guardrails.is_empty();
    }
    judged_by(rule, &inst.controls)
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
        "MOAT-NS-006" | "MOAT-NS-007" => c.private_dns.is_some(),
        "MOAT-NS-008" => c.dns_zone_group.is_some(),
        "MOAT-NS-009" => c.nsg.is_some(),
        "MOAT-NS-010" => c
            .private_endpoint
            .as_ref()
            .is_some_and(|p| p.spec.subnet_network_policies.is_some()),
        "MOAT-LT-003" => c.generic("alerts").is_some(),
        "MOAT-NS-012" => {
            c.private_endpoint.is_some() && c.dns_zone_group.is_some() && c.private_dns.is_some()
        }
        // Observed-state rules judge every live account, named or not.
        "MOAT-NS-011" | "MOAT-PA-002" | "MOAT-PA-003" | "MOAT-PA-004" => true,
        // Judged from the secret of an instance with `keyRotation`; none: no period to exceed.
        "MOAT-IM-003" => true,
        _ => false,
    }
}

/// What a blueprint declares for [`judged_by`] to judge `rule`, as JUnit's skip text names it:
/// the remediation, which for most rules is that control; NS-012's says how to fix a record,
/// and the rule needs the whole private path.
pub fn judged_when_declared(rule: &Rule) -> &'static str {
    match rule.id {
        "MOAT-NS-012" => "controls.privateEndpoint, controls.privateDns and controls.dnsZoneGroup",
        _ => rule.remediation,
    }
}

/// The rule for a changed field (`Some(path)`) or a whole change (`None`) of a kind.
pub fn rule_for(kind: &str, path: Option<&str>) -> Option<&'static Rule> {
    if let Some((_, id)) = ALSO.iter().find(|(k, _)| *k == kind) {
        return rule(id);
    }
    RULES.iter().find(|r| {
        r.kind != OBSERVED
            && r.kind == kind
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

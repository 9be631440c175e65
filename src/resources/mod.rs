//! One file per ARM resource kind behind one interface ([`kind::Kind`]), and this file, their
//! registry: the one list of kinds ([`KINDS`]). A new kind is one file here and one line in
//! that list; the observer, the planner, destroy and apply reach kinds only through it, and
//! tests iterate it, so a registered kind is covered without being listed again.
//!
//! Everything here is pure: functions of the resolved blueprint and observed JSON.

pub mod account;
pub mod action_group;
pub mod activity_log_alert;
mod alert_rule;
mod common;
pub mod cutover;
pub mod defender_for_ai;
pub mod deleted_account;
pub mod deployment;
pub mod diagnostic_setting;
pub mod dns_zone_group;
pub mod guardrail_grant;
pub mod key_vault_grant;
pub mod kind;
pub mod log_alert;
pub mod metric_alert;
pub mod policy_assignment;
pub mod policy_diagnostics;
pub mod policy_exemption;
pub mod policy_remediation;
pub mod private_dns_zone;
pub mod private_endpoint;
mod private_network;
pub mod rai_policy;
pub mod role_assignment;
pub mod security_rule;
pub mod subnet;
pub mod vnet_link;

pub use crate::values::*;
pub use common::*;

use crate::model::{Gate, KindId};
use kind::Kind;

/// Every kind, in the order the planner asks them (the account first: nothing else is planned
/// against an account moat refuses to touch).
pub static KINDS: &[&dyn Kind] = &[
    &account::Account,
    &deleted_account::DeletedAccountKind,
    &key_vault_grant::KeyVaultGrantKind,
    &role_assignment::RoleAssignmentKind,
    &diagnostic_setting::DiagnosticSettingKind,
    &defender_for_ai::DefenderForAi,
    &action_group::ActionGroupKind,
    &activity_log_alert::ActivityLogAlertKind,
    &metric_alert::MetricAlertKind,
    &log_alert::LogAlertKind,
    &rai_policy::RaiPolicyKind,
    &deployment::DeploymentKind,
    &subnet::SubnetKind,
    &private_dns_zone::PrivateDnsZoneKind,
    &vnet_link::VnetLinkKind,
    &private_endpoint::PrivateEndpointKind,
    &dns_zone_group::DnsZoneGroupKind,
    &security_rule::SecurityRuleKind,
    &policy_assignment::PolicyAssignmentKind,
    &guardrail_grant::GuardrailGrantKind,
    &policy_exemption::PolicyExemptionKind,
    &policy_remediation::PolicyRemediationKind,
];

/// The kind a plan names, if moat knows it.
pub fn find(id: &KindId) -> Option<&'static dyn Kind> {
    KINDS.iter().copied().find(|k| k.meta().label == id.label())
}

/// A gate in a sentence, as its kind words it.
pub fn describe(gate: &Gate) -> String {
    match find(&gate.kind) {
        Some(k) => k.describe_gate(&gate.ids),
        None => format!("{} {}", gate.kind, gate.ids.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_found() {
        let mut seen = std::collections::HashSet::new();
        for k in KINDS {
            assert!(seen.insert(k.meta().label), "{} twice", k.meta().label);
            assert!(find(&KindId::new(k.meta().label)).is_some());
        }
        assert!(find(&KindId::new("no-such-kind")).is_none());
    }
}

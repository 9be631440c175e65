//! The one list of resource kinds moat manages. A new kind is one file in `src/resources/` and
//! one line here; tests iterate [`KINDS`], so a registered kind is covered without being listed
//! again.

use super::kind::Kind;
use super::{
    account, deleted_account, deployment, diagnostic_setting, dns_zone_group, private_dns_zone,
    private_endpoint, rai_policy, role_assignment, security_rule, subnet, vnet_link,
};
use crate::model::{Gate, KindId};

/// Every kind, in the order the planner asks them (the account first: nothing else is planned
/// against an account moat refuses to touch).
pub static KINDS: &[&dyn Kind] = &[
    &account::Account,
    &deleted_account::DeletedAccountKind,
    &role_assignment::RoleAssignmentKind,
    &diagnostic_setting::DiagnosticSettingKind,
    &rai_policy::RaiPolicyKind,
    &deployment::DeploymentKind,
    &subnet::SubnetKind,
    &private_dns_zone::PrivateDnsZoneKind,
    &vnet_link::VnetLinkKind,
    &private_endpoint::PrivateEndpointKind,
    &dns_zone_group::DnsZoneGroupKind,
    &security_rule::SecurityRuleKind,
];

/// The kind a plan names, if moat knows it.
pub fn kind(id: &KindId) -> Option<&'static dyn Kind> {
    KINDS.iter().copied().find(|k| k.meta().label == id.label())
}

/// A gate in a sentence, as its kind words it.
pub fn describe(gate: &Gate) -> String {
    match kind(&gate.kind) {
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
            assert!(kind(&KindId::new(k.meta().label)).is_some());
        }
        assert!(kind(&KindId::new("no-such-kind")).is_none());
    }
}

//! The blueprint's `acknowledged:` entries against the findings: each waives the one finding
//! of its rule on its resource; an entry that waives nothing in the audited scopes is stale
//! (the finding was fixed, or the id is wrong) and is reported so it can be deleted.

use crate::blueprint::resolved::Acknowledgement;
use crate::resources::segment_after_ci;

use super::discover::Scope;
use super::Finding;

/// Waives the findings `acks` cover; returns the unexpired entries that covered none and whose
/// resource is inside `scopes`.
pub fn apply(
    acks: &[Acknowledgement],
    scopes: &[Scope],
    findings: &mut [Finding],
) -> Vec<Acknowledgement> {
    let mut used = vec![false; acks.len()];
    for f in findings.iter_mut() {
        if f.waived_by.is_some() {
            continue;
        }
        if let Some(i) = acks
            .iter()
            .position(|a| a.covers(f.rule.id, &f.resource_id))
        {
            f.waived_by = Some(acks[i].describe());
            used[i] = true;
        }
    }
    acks.iter()
        .zip(used)
        .filter(|(a, used)| !used && !a.expired && audited(scopes, &a.resource))
        .map(|(a, _)| a.clone())
        .collect()
}

/// Whether the audit looked where `resource` is: its subscription, and its resource group
/// when a scope names one.
fn audited(scopes: &[Scope], resource: &str) -> bool {
    let sub = resource.split('/').nth(2).unwrap_or_default();
    let rg = segment_after_ci(resource, "resourceGroups");
    scopes.iter().any(|s| {
        s.subscription.eq_ignore_ascii_case(sub)
            && s.resource_group.as_deref().is_none_or(|want| {
                rg.as_deref()
                    .is_some_and(|have| have.eq_ignore_ascii_case(want))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{rules, Evidence};

    const SUB: &str = "00000000-0000-0000-0000-000000000001";

    fn ack(rule: &str, resource: &str, expired: bool) -> Acknowledgement {
        Acknowledgement {
            rule: rule.into(),
            resource: resource.into(),
            reason: "the platform team owns it".into(),
            expires: None,
            expired,
            at: "b.yaml:3:5".into(),
        }
    }

    fn finding(rule: &str, resource: &str) -> Finding {
        Finding {
            rule: rules::rule(rule).unwrap(),
            instance: "a".into(),
            resource_id: resource.into(),
            address: "a/x".into(),
            evidence: vec![Evidence {
                path: "p".into(),
                observed: None,
                expected: None,
            }],
            waived_by: None,
        }
    }

    #[test]
    fn an_entry_waives_only_its_rule_on_its_resource_and_stale_ones_are_returned() {
        let ra = format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/1");
        let other = format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/2");
        let gone = format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/3");
        let elsewhere = format!("/subscriptions/{SUB}/resourceGroups/other/providers/Microsoft.Authorization/roleAssignments/4");
        let mut fs = vec![
            finding(
                "MOAT-PA-002",
                &ra.to_uppercase().replace("SUBSCRIPTIONS", "subscriptions"),
            ),
            finding("MOAT-PA-004", &ra),
            finding("MOAT-PA-002", &other),
        ];
        let acks = vec![
            ack("MOAT-PA-002", &ra, false),
            ack("MOAT-PA-002", &other, true),
            ack("MOAT-PA-003", &gone, false),
            ack("MOAT-PA-003", &elsewhere, false),
        ];
        let scopes = [Scope {
            subscription: SUB.into(),
            resource_group: Some("rg".into()),
        }];
        let stale = apply(&acks, &scopes, &mut fs);
        assert_eq!(
            fs[0].waived_by.as_deref(),
            Some("acknowledged: the platform team owns it"),
            "ids compare case-insensitively"
        );
        assert_eq!(fs[1].waived_by, None, "another rule on the same resource");
        assert_eq!(fs[2].waived_by, None, "an expired entry waives nothing");
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert_eq!(
            stale[0].resource, gone,
            "out of scope and expired ones are not stale"
        );
    }
}

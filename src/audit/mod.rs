//! `moat audit`'s finding model: plain data derived from a plan.
//!
//! Every planned change on a security control is a finding: the plan already says, per ARM
//! property, what the live state is and what the blueprint (or the strict baseline) expects.
//! `rules` maps a change's kind and changed field to a stable rule id; this module turns a
//! [`Plan`] into [`Finding`]s and knows no kind itself.

pub mod acknowledged;
pub mod cache;
pub mod discover;
pub mod dns_records;
pub mod guardrails;
pub mod junit;
pub mod key_age;
pub mod locate;
pub mod observed_rules;
pub mod read_only;
pub mod render;
pub mod rules;
pub mod run;
pub mod sarif;
pub mod schema;

use serde::Serialize;
use serde_json::Value;

use crate::model::{Action, Change, Plan};
pub use rules::{Rule, Severity, RULES};

/// Version of the audit JSON document; bumped on any incompatible change.
pub const AUDIT_FORMAT_VERSION: u32 = 1;

/// One observed-vs-expected value behind a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// Dotted ARM property path, e.g. `properties.publicNetworkAccess`.
    pub path: String,
    pub observed: Option<Value>,
    pub expected: Option<Value>,
}

/// One finding on one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: &'static Rule,
    /// The blueprint instance (or the discovered account's name when synthesized).
    pub instance: String,
    /// The ARM id of the resource the finding is on.
    pub resource_id: String,
    /// The plan address of the change it came from.
    pub address: String,
    /// Empty for a resource that does not exist yet (the whole resource is expected).
    pub evidence: Vec<Evidence>,
    /// The blueprint exception that waives it, quoted; a waived finding never fails the audit.
    pub waived_by: Option<String>,
}

/// The findings in a plan, in plan order: one per (change, rule).
pub fn findings(plan: &Plan) -> Vec<Finding> {
    let mut out = Vec::new();
    for inst in &plan.instances {
        for c in &inst.changes {
            push_change(&inst.name, c, &mut out);
        }
    }
    out
}

fn counts(action: &Action) -> bool {
    !matches!(action, Action::NoOp | Action::Verified)
}

fn push_change(instance: &str, c: &Change, out: &mut Vec<Finding>) {
    if !counts(&c.action) {
        return;
    }
    let kind = c.kind.label();
    let mut found: Vec<Finding> = Vec::new();
    for f in &c.fields {
        let Some(rule) = rules::rule_for(kind, Some(&f.path)) else {
            continue;
        };
        let evidence = Evidence {
            path: f.path.clone(),
            observed: f.before.clone(),
            expected: f.after.clone(),
        };
        match found.iter_mut().find(|x| x.rule.id == rule.id) {
            Some(x) => x.evidence.push(evidence),
            None => found.push(finding(rule, instance, c, vec![evidence])),
        }
    }
    if found.is_empty() {
        if let Some(rule) = rules::rule_for(kind, None) {
            found.push(finding(rule, instance, c, Vec::new()));
        }
    }
    out.extend(found);
}

fn finding(rule: &'static Rule, instance: &str, c: &Change, evidence: Vec<Evidence>) -> Finding {
    Finding {
        rule,
        instance: instance.to_string(),
        resource_id: c.id.clone(),
        address: c.address.clone(),
        evidence,
        waived_by: c.exception.clone(),
    }
}

/// Whether the audit fails: an unwaived finding at or above `fail_on`.
pub fn fails(findings: &[Finding], fail_on: Severity) -> bool {
    findings
        .iter()
        .any(|f| f.waived_by.is_none() && f.rule.severity >= fail_on)
}

#[cfg(test)]
mod tests;

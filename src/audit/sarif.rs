//! SARIF 2.1.0 of an audit, for GitHub code scanning: a rule per audit rule (with GitHub's
//! `security-severity`), a result per finding carrying the ARM id, located at the blueprint's
//! `FILE:LINE` when the finding is about an instance the blueprint names. A waived finding is a
//! result with an external suppression whose justification is the exception. The envelope is
//! `moat validate`'s (`render::diagnostics::sarif_log`).

use serde_json::{json, Value};

use super::locate::Source;
use super::{Finding, Severity, RULES};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub's `security-severity` (CVSS-like: critical ≥ 9, high ≥ 7, medium ≥ 4, low below).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

/// `public network access is enabled` → `PublicNetworkAccessIsEnabled`.
fn rule_name(title: &str) -> String {
    title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|f| f.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn message(f: &Finding) -> String {
    let mut text = format!("{}: {}", f.instance, f.rule.title);
    for e in &f.evidence {
        let shown = |v: &Option<Value>| match v {
            None => "(absent)".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        };
        text.push_str(&format!("\n{}: {}", e.path, shown(&e.observed)));
        if e.expected.is_some() {
            text.push_str(&format!(" (expected {})", shown(&e.expected)));
        }
    }
    text.push_str(&format!(
        "\nresource: {}\nfix: {}",
        f.resource_id, f.rule.remediation
    ));
    text
}

/// The SARIF log; `source` is the blueprint (none when judging against the baseline alone).
pub fn sarif(findings: &[Finding], source: Option<&Source>) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": rule_name(r.title),
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": format!("{} (MCSB {}). Fix: {}", r.title, r.mcsb, r.remediation)},
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {
                    "security-severity": security_severity(r.severity),
                    "severity": r.severity.label(),
                    "mcsb": r.mcsb,
                    "tags": ["security"],
                },
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let index = RULES.iter().position(|r| r.id == f.rule.id).unwrap_or_default();
            let mut r = json!({
                "ruleId": f.rule.id,
                "ruleIndex": index,
                "level": level(f.rule.severity),
                "message": {"text": message(f)},
                "partialFingerprints": {"moatFinding/v2": fingerprint(f)},
                "properties": {
                    "armId": f.resource_id,
                    "instance": f.instance,
                    "address": f.address,
                    "severity": f.rule.severity.label(),
                },
            });
            let logical = json!({"fullyQualifiedName": f.resource_id, "kind": "resource"});
            let line = source.and_then(|s| s.lines.get(&f.instance).map(|l| (s, *l)));
            r["locations"] = match line {
                Some((s, line)) => json!([{
                    "physicalLocation": {
                        "artifactLocation": {"uri": s.uri},
                        // The entry's column; 1 when the blueprint gives none better.
                        "region": {"startLine": line, "startColumn": s.columns.get(&f.instance).copied().unwrap_or(1)},
                    },
                    "logicalLocations": [logical],
                }]),
                None => json!([{"logicalLocations": [logical]}]),
            };
            if let Some(w) = &f.waived_by {
                r["suppressions"] = json!([{"kind": "external", "justification": w}]);
            }
            r
        })
        .collect();
    crate::render::diagnostics::sarif_log(rules, results)
}

/// A finding's identity across runs: rule, ARM id and the instance it is about. The ARM id alone
/// is not enough: an assignment inherited from a resource group (MOAT-PA-002) is one resource and
/// one finding per account under it; `v1` (rule and ARM id) folded them into one alert.
fn fingerprint(f: &Finding) -> String {
    format!(
        "{}|{}|{}",
        f.rule.id,
        f.resource_id.to_ascii_lowercase(),
        f.instance.to_ascii_lowercase()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rule_names_are_identifiers() {
        assert_eq!(
            super::rule_name("local (key) authentication is enabled"),
            "LocalKeyAuthenticationIsEnabled"
        );
    }

    #[test]
    fn an_inherited_assignment_is_one_alert_per_account() {
        let rule = crate::audit::rules::rule("MOAT-PA-002").unwrap();
        let on = |instance: &str| {
            crate::audit::Finding {
            rule,
            instance: instance.into(),
            resource_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/a".into(),
            address: format!("{instance}/MOAT-PA-002/a"),
            evidence: vec![],
            waived_by: None,
        }
        };
        let (a, b) = (
            super::fingerprint(&on("chat")),
            super::fingerprint(&on("embed")),
        );
        assert_ne!(a, b);
        assert_eq!(
            a,
            super::fingerprint(&on("Chat")),
            "case does not make a new alert"
        );
    }
}

//! JUnit XML of an audit, for Azure DevOps' test tab (PublishTestResults, `testResultsFormat:
//! JUnit`): a `testsuite` per account, a `testcase` per rule; a finding is a `failure`, a waived
//! finding or a rule whose control is not declared is `skipped` (with the reason), anything
//! else passes. Each soft-deleted account is a suite of its one failing case.

use std::fmt::Write as _;

use super::run::Audit;
use super::{rules, Finding, RULES};

/// XML text and attribute escaping.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

enum Outcome<'a> {
    Pass,
    Fail(Vec<&'a Finding>),
    Skip(String),
}

struct Case<'a> {
    rule: &'static rules::Rule,
    outcome: Outcome<'a>,
}

struct Suite<'a> {
    name: String,
    id: String,
    cases: Vec<Case<'a>>,
}

fn evidence(fs: &[&Finding]) -> String {
    let mut out = String::new();
    for f in fs {
        let _ = writeln!(out, "resource: {}", f.resource_id);
        for e in &f.evidence {
            let shown = |v: &Option<serde_json::Value>| match v {
                None => "(absent)".to_string(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            let _ = write!(out, "{}: {}", e.path, shown(&e.observed));
            if e.expected.is_some() {
                let _ = write!(out, " (expected {})", shown(&e.expected));
            }
            out.push('\n');
        }
    }
    if let Some(f) = fs.first() {
        let _ = writeln!(out, "fix: {}", f.rule.remediation);
    }
    out
}

fn suites(audit: &Audit) -> Vec<Suite<'_>> {
    let mut out = Vec::new();
    for inst in &audit.judged.instances {
        let mine: Vec<&Finding> = audit
            .findings
            .iter()
            .filter(|f| f.instance == inst.name)
            .collect();
        let cases = RULES
            .iter()
            .filter(|r| r.kind != rules::DELETED_ACCOUNT)
            .map(|rule| {
                let hits: Vec<&Finding> = mine
                    .iter()
                    .copied()
                    .filter(|f| f.rule.id == rule.id)
                    .collect();
                let outcome = if hits.iter().any(|f| f.waived_by.is_none()) {
                    Outcome::Fail(hits.into_iter().filter(|f| f.waived_by.is_none()).collect())
                } else if let Some(w) = hits.iter().find_map(|f| f.waived_by.as_deref()) {
                    Outcome::Skip(format!("waived: {w}"))
                } else if rules::judged_for(rule, inst) {
                    Outcome::Pass
                } else {
                    Outcome::Skip(format!(
                        "not judged: no {} declared",
                        rules::judged_when_declared(rule)
                    ))
                };
                Case { rule, outcome }
            })
            .collect();
        out.push(Suite {
            name: inst.name.clone(),
            id: inst.account_id(),
            cases,
        });
    }
    for d in &audit.deleted {
        let hits: Vec<&Finding> = audit
            .findings
            .iter()
            .filter(|f| f.resource_id.eq_ignore_ascii_case(&d.id))
            .collect();
        let Some(first) = hits.first() else { continue };
        out.push(Suite {
            name: format!("{} (soft-deleted)", d.name),
            id: d.id.clone(),
            cases: vec![Case {
                rule: first.rule,
                outcome: Outcome::Fail(hits),
            }],
        });
    }
    out
}

/// The JUnit XML document.
pub fn junit(audit: &Audit) -> String {
    let suites = suites(audit);
    let count =
        |s: &Suite, f: fn(&Outcome) -> bool| s.cases.iter().filter(|c| f(&c.outcome)).count();
    let failed = |o: &Outcome| matches!(o, Outcome::Fail(_));
    let skipped = |o: &Outcome| matches!(o, Outcome::Skip(_));
    let total: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(|s| count(s, failed)).sum();
    let skips: usize = suites.iter().map(|s| count(s, skipped)).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"moat audit\" tests=\"{total}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skips}\">"
    );
    for (i, s) in suites.iter().enumerate() {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" id=\"{i}\" package=\"moat.audit\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
            esc(&s.name),
            s.cases.len(),
            count(s, failed),
            count(s, skipped)
        );
        let _ = writeln!(
            out,
            "    <properties>\n      <property name=\"armId\" value=\"{}\"/>\n    </properties>",
            esc(&s.id)
        );
        for c in &s.cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{} {}\"",
                esc(&s.name),
                c.rule.id,
                esc(c.rule.title)
            );
            match &c.outcome {
                Outcome::Pass => out.push_str("/>\n"),
                Outcome::Skip(why) => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        esc(why)
                    );
                }
                Outcome::Fail(fs) => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                        esc(c.rule.title),
                        c.rule.severity.label(),
                        esc(&evidence(fs))
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

//! Drawing findings: a terminal table and a versioned JSON document, both from the same
//! [`Finding`]s so the two views cannot disagree.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{Finding, Severity, AUDIT_FORMAT_VERSION};

fn shown(v: &Option<Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// The terminal table: one line per finding, then its evidence and remediation, then a summary.
pub fn table(findings: &[Finding]) -> String {
    let mut out = String::new();
    if findings.is_empty() {
        out.push_str("No findings.\n");
        return out;
    }
    for f in findings {
        let state = match &f.waived_by {
            Some(_) => "waived",
            None => f.rule.severity.label(),
        };
        let _ = writeln!(
            out,
            "{:<11}  {:<8}  {}  {}",
            f.rule.id, state, f.instance, f.rule.title
        );
        let _ = writeln!(out, "    resource: {}", f.resource_id);
        for e in &f.evidence {
            let _ = match &e.expected {
                None if e.observed.is_some() => {
                    writeln!(out, "    {}: {}", e.path, shown(&e.observed))
                }
                _ => writeln!(
                    out,
                    "    {}: {} (expected {})",
                    e.path,
                    shown(&e.observed),
                    shown(&e.expected)
                ),
            };
        }
        if f.evidence.is_empty() && f.waived_by.is_none() {
            let _ = writeln!(out, "    missing: the resource does not exist");
        }
        match &f.waived_by {
            Some(w) => {
                let _ = writeln!(out, "    waived by: {w}");
            }
            None => {
                let _ = writeln!(out, "    fix: {}", f.rule.remediation);
            }
        }
    }
    let s = summary(findings);
    let _ = writeln!(
        out,
        "\n{} findings: {} critical, {} high, {} medium, {} low, {} waived.",
        findings.len(),
        s[3],
        s[2],
        s[1],
        s[0],
        s[4]
    );
    out
}

/// Unwaived counts per severity (low..critical), then the waived count.
fn summary(findings: &[Finding]) -> [usize; 5] {
    let mut s = [0usize; 5];
    for f in findings {
        match f.waived_by {
            Some(_) => s[4] += 1,
            None => s[f.rule.severity as usize] += 1,
        }
    }
    s
}

/// The JSON document (`formatVersion` bumps on any incompatible change).
pub fn json(findings: &[Finding], fail_on: Severity) -> Value {
    let s = summary(findings);
    json!({
        "formatVersion": AUDIT_FORMAT_VERSION,
        "moatVersion": env!("CARGO_PKG_VERSION"),
        "failOn": fail_on,
        "failed": super::fails(findings, fail_on),
        "summary": {
            "low": s[0], "medium": s[1], "high": s[2], "critical": s[3], "waived": s[4],
        },
        "findings": findings.iter().map(|f| json!({
            "ruleId": f.rule.id,
            "title": f.rule.title,
            "mcsb": f.rule.mcsb,
            "severity": f.rule.severity,
            "policyDefinitionId": f.rule.policy.map(|g| format!("/providers/Microsoft.Authorization/policyDefinitions/{g}")),
            "instance": f.instance,
            "resourceId": f.resource_id,
            "address": f.address,
            "evidence": f.evidence.iter().map(|e| json!({
                "path": e.path, "observed": e.observed, "expected": e.expected,
            })).collect::<Vec<_>>(),
            "waivedBy": f.waived_by,
            "remediation": f.rule.remediation,
        })).collect::<Vec<_>>(),
    })
}

/// The line on stderr after an audit: what was looked at.
pub fn scanned(report: &super::run::Audit) -> String {
    let named = report.instances.iter().filter(|i| i.named).count();
    format!(
        "Audited {} account(s) ({named} named by the blueprint, {} against the strict baseline) and {} soft-deleted account(s); read-only, nothing was changed.",
        report.accounts.len(),
        report.instances.len() - named,
        report.deleted.len()
    )
}

/// A table cell: no pipe, no line break.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A value in a markdown cell, cut at `EVIDENCE_CHARS` (a whole content-filter list would
/// swamp the comment; the JSON has it all).
fn short(v: &Option<Value>) -> String {
    const EVIDENCE_CHARS: usize = 120;
    let t = shown(v);
    if t.chars().count() > EVIDENCE_CHARS {
        let mut c: String = t.chars().take(EVIDENCE_CHARS).collect();
        c.push('…');
        c
    } else {
        t
    }
}

fn evidence_cell(f: &Finding) -> String {
    let parts: Vec<String> = f
        .evidence
        .iter()
        .map(|e| match &e.expected {
            None if e.observed.is_some() => format!("`{}`: {}", e.path, short(&e.observed)),
            _ => format!(
                "`{}`: {} (expected {})",
                e.path,
                short(&e.observed),
                short(&e.expected)
            ),
        })
        .collect();
    match (&f.waived_by, parts.is_empty()) {
        (_, false) => cell(&parts.join("; ")),
        (Some(_), true) => String::new(),
        (None, true) => "missing: the resource does not exist".into(),
    }
}

/// Markdown for a pull-request comment or a report: a summary line, the unwaived findings
/// worst first, then the waived ones with their exceptions.
pub fn markdown(findings: &[Finding], fail_on: Severity) -> String {
    let mut out = String::from("<!-- moat-audit -->\n## moat audit\n\n");
    let s = summary(findings);
    if findings.is_empty() {
        out.push_str("No findings.\n");
        return out;
    }
    let verdict = if super::fails(findings, fail_on) {
        format!("**fails** (`--fail-on {}`)", fail_on.label())
    } else {
        format!("passes (`--fail-on {}`)", fail_on.label())
    };
    let _ = writeln!(
        out,
        "{} findings: {} critical, {} high, {} medium, {} low, {} waived. The audit {verdict}.\n",
        findings.len(),
        s[3],
        s[2],
        s[1],
        s[0],
        s[4]
    );
    let mut open: Vec<&Finding> = findings.iter().filter(|f| f.waived_by.is_none()).collect();
    open.sort_by_key(|f| std::cmp::Reverse(f.rule.severity));
    if !open.is_empty() {
        out.push_str(
            "| severity | rule | account | finding | evidence | fix |\n|---|---|---|---|---|---|\n",
        );
        for f in open {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                f.rule.severity.label(),
                f.rule.id,
                cell(&f.instance),
                cell(f.rule.title),
                evidence_cell(f),
                cell(f.rule.remediation)
            );
        }
    }
    let waived: Vec<&Finding> = findings.iter().filter(|f| f.waived_by.is_some()).collect();
    if !waived.is_empty() {
        out.push_str("\n### Waived by the blueprint's exceptions\n\n| rule | account | finding | exception |\n|---|---|---|---|\n");
        for f in waived {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                f.rule.id,
                cell(&f.instance),
                cell(f.rule.title),
                cell(f.waived_by.as_deref().unwrap_or_default())
            );
        }
    }
    out
}

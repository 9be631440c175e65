//! `moat schema --audit`: the JSON Schema (draft 2020-12) of `moat audit --format json`. Closed
//! objects, every field moat always writes required, the rule ids and severities as enums; the
//! `$id` ends in the audit format version. tests/suite/golden_audit.rs validates the example's
//! golden JSON against it.

use serde_json::{json, Value};

use super::{AUDIT_FORMAT_VERSION, RULES};

fn closed(description: &str, props: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "description": description,
        "properties": props,
        "required": required,
        "additionalProperties": false,
    })
}

/// The schema of the audit JSON document.
pub fn schema() -> Value {
    let severity = json!({"enum": ["low", "medium", "high", "critical"]});
    let count = json!({"type": "integer", "minimum": 0});
    let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    let evidence = closed(
        "One observed-vs-expected value: the ARM property path, what live state has (absent: \
         null) and what the blueprint or baseline expects (null: nothing is expected, e.g. a \
         soft-deleted account).",
        json!({"path": {"type": "string"}, "observed": {}, "expected": {}}),
        &["path", "observed", "expected"],
    );
    let finding = closed(
        "One finding on one resource.",
        json!({
            "ruleId": {"enum": ids},
            "title": {"type": "string"},
            "mcsb": {"type": "string", "description": "Microsoft cloud security benchmark control(s)."},
            "severity": severity,
            "policyDefinitionId": {
                "type": ["string", "null"],
                "pattern": "^/providers/Microsoft.Authorization/policyDefinitions/[0-9a-f-]{36}$",
                "description": "The built-in Azure Policy definition checking the same thing, where one exists."
            },
            "instance": {"type": "string", "description": "The blueprint instance, or the account's name when judged against the strict baseline."},
            "resourceId": {"type": "string", "pattern": "^/subscriptions/"},
            "address": {"type": "string"},
            "evidence": {"type": "array", "items": evidence, "description": "Empty when the whole resource is missing."},
            "waivedBy": {"type": ["string", "null"], "description": "The blueprint exception that waives it; a waived finding never fails the audit."},
            "remediation": {"type": "string"},
        }),
        &[
            "ruleId",
            "title",
            "mcsb",
            "severity",
            "policyDefinitionId",
            "instance",
            "resourceId",
            "address",
            "evidence",
            "waivedBy",
            "remediation",
        ],
    );
    let doc = closed(
        "moat audit --format json (docs/audit.md).",
        json!({
            "formatVersion": {"const": AUDIT_FORMAT_VERSION},
            "moatVersion": {"type": "string"},
            "failOn": severity,
            "failed": {"type": "boolean", "description": "An unwaived finding at or above failOn (exit code 3)."},
            "summary": closed(
                "Unwaived findings per severity, and the waived ones.",
                json!({"low": count, "medium": count, "high": count, "critical": count, "waived": count}),
                &["low", "medium", "high", "critical", "waived"],
            ),
            "findings": {"type": "array", "items": finding},
        }),
        &[
            "formatVersion",
            "moatVersion",
            "failOn",
            "failed",
            "summary",
            "findings",
        ],
    );
    crate::render::schema::with_header(
        &format!("urn:moat:audit:v{AUDIT_FORMAT_VERSION}"),
        &format!("moat audit, format version {AUDIT_FORMAT_VERSION}"),
        doc,
    )
}

//! The pieces the text and markdown renderings both draw: the summary line, action words, values
//! and line diffs of multi-line values.

use serde_json::Value;

use crate::model::{Action, Change, FieldChange, Summary};

/// What every rendering says of a plan that fails.
/// The heading of the key rotations plan shows: not changes, `moat rotate` does them.
pub const ROTATION_HEAD: &str =
    "Due outside apply: key rotation (`moat rotate` does it; apply never rotates)";

pub const FAILED_LINE: &str = "The plan has blocked changes, drift on verify-only controls or expired exceptions: apply holds back the instances that have them (and what depends on them) and applies the others.";

/// What every rendering says of a change that is a regression.
pub const REGRESSION: &str =
    "live is weaker than the blueprint declares (drift since the last apply, or not hardened yet)";

/// "N to create, M to update, K to delete" (+ blocked / drift / regressions when any).
pub fn summary_line(s: &Summary) -> String {
    let mut line = format!(
        "{} to create, {} to update, {} to delete",
        s.create, s.update, s.delete
    );
    if s.drift > 0 {
        line.push_str(&format!(", {} drifted (verify-only)", s.drift));
    }
    if s.blocked > 0 {
        line.push_str(&format!(", {} blocked", s.blocked));
    }
    line.push('.');
    if s.regressions > 0 {
        line.push_str(&format!(
            " {} regression(s): live weaker than the blueprint declares.",
            s.regressions
        ));
    }
    line
}

pub fn action_word(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::NoOp => "no change",
        Action::Drift => "drift",
        Action::Verified => "verified",
        Action::Blocked => "blocked",
    }
}

/// Changes worth showing: everything but no-ops and verified controls.
pub fn visible(c: &Change) -> bool {
    !matches!(c.action, Action::NoOp | Action::Verified)
}

/// A value as one line when it is a scalar, else pretty JSON.
pub fn show_value(v: &Option<Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(v @ (Value::Object(_) | Value::Array(_))) => layout(v, 0),
        Some(v) => v.to_string(),
    }
}

/// Readable JSON for reviewers: one key per line for objects, arrays of scalars inline, arrays of
/// objects one compact object per line (so a content filter or NSG rule is one diffable line).
pub fn layout(v: &Value, indent: usize) -> String {
    let pad = "  ".repeat(indent + 1);
    let end = "  ".repeat(indent);
    let compact = |x: &Value| serde_json::to_string(x).unwrap_or_default();
    match v {
        Value::Object(m) if !m.is_empty() => {
            let lines: Vec<String> = m
                .iter()
                .map(|(k, x)| {
                    format!(
                        "{pad}{}: {}",
                        compact(&Value::String(k.clone())),
                        layout(x, indent + 1)
                    )
                })
                .collect();
            format!("{{\n{}\n{end}}}", lines.join(",\n"))
        }
        Value::Array(a) if a.iter().any(|x| x.is_object() || x.is_array()) => {
            let lines: Vec<String> = a.iter().map(|x| format!("{pad}{}", compact(x))).collect();
            format!("[\n{}\n{end}]", lines.join(",\n"))
        }
        other => compact(other),
    }
}

pub fn is_multiline(f: &FieldChange) -> bool {
    show_value(&f.before).contains('\n') || show_value(&f.after).contains('\n')
}

/// Line diff of a multi-line field's values (an absent side is empty).
pub fn field_diff(f: &FieldChange) -> Vec<(char, String)> {
    let side = |v: &Option<Value>| v.as_ref().map_or_else(String::new, |_| show_value(v));
    line_diff(&side(&f.before), &side(&f.after))
}

/// Line diff of two multi-line values: `(marker, line)` with `-`, `+` or ` `.
pub fn line_diff(before: &str, after: &str) -> Vec<(char, String)> {
    let diff = similar::TextDiff::from_lines(before, after);
    diff.iter_all_changes()
        .map(|c| {
            let m = match c.tag() {
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
                similar::ChangeTag::Equal => ' ',
            };
            (m, c.value().trim_end_matches('\n').to_string())
        })
        .collect()
}

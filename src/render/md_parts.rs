//! The pieces of the markdown rendering, each a complete markdown construct (a table, a change,
//! an instance's section) so that the budget in `markdown.rs` can fold or drop whole pieces and
//! never cut one in half.

use std::fmt::Write as _;

use super::{action_word, field_diff, is_multiline, show_value, visible};
use crate::model::{Action, Change, InstancePlan, Plan};

/// A table cell or heading: no pipe, no line break of the value's own.
pub fn esc(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The changes a reviewer must read in full whatever the budget: a risk for running clients, a
/// delete, a blocked change, drift on a verify-only control, a regression, or a weakening the
/// blueprint's exception allows.
pub fn is_risky(c: &Change) -> bool {
    visible(c)
        && (c.risk.is_some()
            || c.exception.is_some()
            || c.regression
            || matches!(c.action, Action::Delete | Action::Blocked | Action::Drift))
}

/// The changes the risks table lists: writes with a risk, regressions, blocked changes and
/// drift.
pub fn in_risks_table(c: &Change) -> bool {
    (c.risk.is_some() && c.action.is_write())
        || c.regression
        || matches!(c.action, Action::Blocked | Action::Drift)
}

/// What the risks table says of a change.
pub fn risk_text(c: &Change) -> &str {
    match c.action {
        Action::Blocked => c.blocked.as_deref().unwrap_or(&c.reason),
        Action::Drift => "verify-only control differs from the blueprint: moat does not write it, and apply holds the instance back",
        _ if c.risk.is_none() && c.regression => super::parts::REGRESSION,
        _ => c.risk.as_deref().unwrap_or(""),
    }
}

/// The address without its instance (`account/local-auth`), for a change several instances share.
pub fn relative<'a>(inst: &InstancePlan, c: &'a Change) -> &'a str {
    c.address
        .strip_prefix(inst.name.as_str())
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(&c.address)
}

/// One change in full: heading, reason, blocked / risk / exception lines, field diff and gates.
/// `title` is the address shown; `instances` names the instances of a change shown once for
/// several; `gates` are the described gates (`None`: they differ between those instances).
pub fn change(
    c: &Change,
    title: &str,
    instances: Option<&[&str]>,
    gates: Option<&[String]>,
) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "#### `{}` {} {}",
        c.action.marker(),
        title,
        action_word(c.action)
    );
    if let Some(names) = instances {
        let _ = write!(out, " — {} instance(s)", names.len());
    }
    let _ = writeln!(out, "\n");
    if let Some(names) = instances {
        let _ = writeln!(out, "**Instances:** {}\n", esc(&names.join(", ")));
    }
    let _ = writeln!(out, "{}\n", c.reason);
    if c.regression {
        let _ = writeln!(out, "**Regression:** {}\n", super::parts::REGRESSION);
    }
    if let Some(b) = c.blocked.as_ref().filter(|b| **b != c.reason) {
        let _ = writeln!(out, "**Blocked:** {b}\n");
    }
    if let Some(r) = &c.risk {
        let _ = writeln!(out, "**Risk:** {r}\n");
    }
    if let Some(e) = &c.exception {
        let _ = writeln!(out, "**Exception:** {e}\n");
    }
    if !c.fields.is_empty() {
        let _ = writeln!(out, "```diff");
        for f in &c.fields {
            if is_multiline(f) {
                let _ = writeln!(out, "  {}:", f.path);
                for (m, line) in field_diff(f) {
                    let _ = writeln!(out, "{m}   {line}");
                }
            } else {
                if f.before.is_some() {
                    let _ = writeln!(out, "- {}: {}", f.path, show_value(&f.before));
                }
                if f.after.is_some() {
                    let _ = writeln!(out, "+ {}: {}", f.path, show_value(&f.after));
                }
            }
        }
        let _ = writeln!(out, "```\n");
    }
    match gates {
        Some(gates) => {
            for g in gates {
                let _ = writeln!(out, "- waits for: {g}");
            }
            if !gates.is_empty() {
                let _ = writeln!(out);
            }
        }
        None => {
            let _ = writeln!(
                out,
                "- waits for: conditions that differ between these instances (the full rendering lists them)\n"
            );
        }
    }
    out
}

/// The gates of a change, described.
pub fn gates(c: &Change) -> Vec<String> {
    c.gates.iter().map(crate::resources::describe).collect()
}

/// The risks table, one row per change.
pub fn risks_table<'a>(rows: impl Iterator<Item = (&'a InstancePlan, &'a Change)>) -> String {
    let mut out = String::from(
        "### Risks, blocked changes and drift\n\n| instance | change | action | risk |\n|---|---|---|---|\n",
    );
    for (i, c) in rows {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            esc(&i.name),
            c.address,
            action_word(c.action),
            esc(risk_text(c))
        );
    }
    out.push('\n');
    out
}

/// The per-instance counts, drift and blocked apart.
pub fn counts_table(plan: &Plan) -> String {
    let mut out = String::from(
        "| instance | create | update | delete | drift | blocked |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for i in &plan.instances {
        let count = |a: Action| i.changes.iter().filter(|c| c.action == a).count();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            esc(&i.name),
            count(Action::Create),
            count(Action::Update),
            count(Action::Delete),
            count(Action::Drift),
            count(Action::Blocked)
        );
    }
    out.push('\n');
    out
}

/// One line per kind for changes shown only as counts: `- `role-assignment`: 1 create, 1 update`.
pub fn folded_lines(changes: &[&Change]) -> String {
    let mut kinds: Vec<&str> = Vec::new();
    for c in changes {
        if !kinds.contains(&c.kind.label()) {
            kinds.push(c.kind.label());
        }
    }
    let mut out = String::from("Without risk, folded to one line per kind:\n\n");
    for k in kinds {
        let mut counts: Vec<(Action, usize)> = Vec::new();
        for c in changes.iter().filter(|c| c.kind.label() == k) {
            match counts.iter_mut().find(|(a, _)| *a == c.action) {
                Some((_, n)) => *n += 1,
                None => counts.push((c.action, 1)),
            }
        }
        counts.sort();
        let said: Vec<String> = counts
            .iter()
            .map(|(a, n)| format!("{n} {}", action_word(*a)))
            .collect();
        let _ = writeln!(out, "- `{k}`: {}", said.join(", "));
    }
    out.push('\n');
    out
}

/// Every standing exception, every run (with its expiry), as a table.
pub fn exceptions(plan: &Plan) -> String {
    let mut out = String::new();
    let all: Vec<_> = plan
        .instances
        .iter()
        .flat_map(|i| i.exceptions.iter().map(move |e| (i, e)))
        .collect();
    if all.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\n### Standing exceptions\n");
    let _ = writeln!(
        out,
        "| instance | allows | reason | expires |\n|---|---|---|---|"
    );
    for (i, e) in all {
        let when = match (&e.expires, e.days_left) {
            (Some(d), Some(n)) if e.expired() => {
                format!("**expired** on {d} ({} day(s) ago): instance held back", -n)
            }
            (Some(d), Some(n)) if e.expiring() => format!("⚠️ {d}, in {n} day(s)"),
            (Some(d), Some(n)) => format!("{d}, in {n} days"),
            (Some(d), None) => d.clone(),
            (None, _) => "never".into(),
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            esc(&i.name),
            e.allows,
            esc(&e.reason),
            when
        );
    }
    let _ = writeln!(out);
    out
}

/// Key rotations `moat rotate` has due or scheduled: shown, not changes (apply never rotates).
pub fn rotation(plan: &Plan) -> String {
    let mut out = String::new();
    let all: Vec<_> = plan
        .instances
        .iter()
        .filter_map(|i| i.rotation.as_ref().map(|r| (i, r)))
        .collect();
    if all.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\n### {}\n", super::parts::ROTATION_HEAD);
    let _ = writeln!(
        out,
        "| instance | secret | status | key | since / from | what |\n|---|---|---|---|---|---|"
    );
    for (i, r) in all {
        let status = match r.status {
            crate::model::RotationStatus::Due => "**due**",
            crate::model::RotationStatus::Refused => "**refused**: instance held back",
            _ => r.status_word(),
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {status} | {} | {} | {} |",
            esc(&i.name),
            esc(&r.secret),
            r.key.as_deref().unwrap_or("—"),
            r.at.as_deref().unwrap_or("—"),
            esc(&r.detail)
        );
    }
    let _ = writeln!(out);
    out
}

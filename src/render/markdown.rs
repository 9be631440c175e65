//! Markdown for pull-request comments: a summary table, risks first, one collapsible section per
//! instance.

use std::fmt::Write as _;

use super::{action_word, field_diff, is_multiline, show_value, summary_line, visible};
use crate::model::{Action, Plan};

fn esc(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The markdown; control characters from the blueprint or ARM escaped (markdown has no escape of
/// its own for them) and secrets redacted, in one pass over the whole text, whose only line breaks
/// are moat's (table cells and headings replace a value's own).
pub fn render(plan: &Plan) -> String {
    crate::sanitize::clean_output(&render_raw(plan)).into_owned()
}

fn render_raw(plan: &Plan) -> String {
    let mut out = String::new();
    let s = plan.summary();
    let _ = writeln!(out, "## moat plan: `{}`\n", plan.blueprint.path);
    if !plan.has_changes() && !plan.is_failed() {
        let _ = writeln!(out, "**No changes.** Live state matches the blueprint.");
        exceptions(&mut out, plan);
        return out;
    }
    let _ = writeln!(out, "**{}**\n", summary_line(&s));
    if plan.is_failed() {
        let _ = writeln!(out, "> [!CAUTION]\n> {}\n", super::FAILED_LINE);
    }
    exceptions(&mut out, plan);
    let risky: Vec<_> = plan
        .instances
        .iter()
        .flat_map(|i| i.changes.iter().map(move |c| (i, c)))
        .filter(|(_, c)| (c.risk.is_some() && c.action.is_write()) || c.action == Action::Blocked)
        .collect();
    if !risky.is_empty() {
        let _ = writeln!(out, "### Risks and blocked changes\n");
        let _ = writeln!(
            out,
            "| instance | change | action | risk |\n|---|---|---|---|"
        );
        for (i, c) in risky {
            let what = c.risk.as_deref().or(c.blocked.as_deref()).unwrap_or("");
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |",
                esc(&i.name),
                c.address,
                action_word(c.action),
                esc(what)
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "| instance | create | update | delete | blocked |\n|---|---:|---:|---:|---:|"
    );
    for i in &plan.instances {
        let count = |a: Action| i.changes.iter().filter(|c| c.action == a).count();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            esc(&i.name),
            count(Action::Create),
            count(Action::Update),
            count(Action::Delete),
            count(Action::Blocked) + count(Action::Drift)
        );
    }
    let _ = writeln!(out);
    for i in &plan.instances {
        let shown: Vec<_> = i.changes.iter().filter(|c| visible(c)).collect();
        let _ = writeln!(
            out,
            "<details><summary><b>{}</b> — {} change(s)</summary>\n",
            i.name,
            shown.len()
        );
        let _ = writeln!(out, "`{}`\n", i.account_id);
        if shown.is_empty() {
            let _ = writeln!(out, "No changes.\n");
        }
        for c in shown {
            let _ = writeln!(
                out,
                "#### `{}` {} {}\n",
                c.action.marker(),
                c.address,
                action_word(c.action)
            );
            let _ = writeln!(out, "{}\n", c.reason);
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
            for g in &c.gates {
                let _ = writeln!(out, "- waits for: {}", crate::resources::describe(g));
            }
            if !c.gates.is_empty() {
                let _ = writeln!(out);
            }
        }
        for n in &i.notes {
            let _ = writeln!(out, "> [!NOTE]\n> {n}\n");
        }
        let _ = writeln!(out, "</details>\n");
    }
    out
}

/// Every standing exception, every run (with its expiry), as a table.
fn exceptions(out: &mut String, plan: &Plan) {
    let all: Vec<_> = plan
        .instances
        .iter()
        .flat_map(|i| i.exceptions.iter().map(move |e| (i, e)))
        .collect();
    if all.is_empty() {
        return;
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
}

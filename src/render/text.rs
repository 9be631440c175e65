//! Terminal rendering: `+ ~ -` markers, colours (off with `--no-color` / `NO_COLOR`), `similar`
//! diffs for multi-line values, a summary line, and "No changes." when there is nothing to do.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::{action_word, field_diff, is_multiline, show_value, summary_line, visible};
use crate::model::{Action, Plan, RotationStatus};
use crate::sanitize::clean;

struct Palette {
    on: bool,
}

impl Palette {
    /// `s` cleaned ([`clean`]: it may come from the blueprint or ARM) and painted: moat's own
    /// escape sequences are the only ones that reach the terminal.
    fn paint(&self, style: Style, s: &str) -> String {
        let s = clean(s);
        if self.on {
            format!("{}{s}{}", style.render(), style.render_reset())
        } else {
            s.to_string()
        }
    }

    fn action(&self, a: Action) -> Style {
        let c = match a {
            Action::Create => AnsiColor::Green,
            Action::Update => AnsiColor::Yellow,
            Action::Delete | Action::Blocked | Action::Drift => AnsiColor::Red,
            Action::NoOp | Action::Verified => AnsiColor::BrightBlack,
        };
        Style::new().fg_color(Some(c.into()))
    }
}

pub fn render(plan: &Plan, color: bool) -> String {
    let p = Palette { on: color };
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let risk = Style::new()
        .fg_color(Some(AnsiColor::Magenta.into()))
        .bold();
    let mut out = String::new();
    let n = plan.instances.len();
    let _ = writeln!(
        out,
        "moat plan for {} ({n} instance{})",
        clean(&plan.blueprint.path),
        if n == 1 { "" } else { "s" }
    );
    for inst in &plan.instances {
        let shown: Vec<_> = inst.changes.iter().filter(|c| visible(c)).collect();
        let _ = writeln!(out);
        let head = format!("instance {}", inst.name);
        let _ = writeln!(
            out,
            "{}  {}",
            p.paint(bold, &head),
            p.paint(dim, &inst.account_id)
        );
        if shown.is_empty() {
            let _ = writeln!(out, "  no changes");
        }
        for c in shown {
            let st = p.action(c.action);
            let _ = writeln!(
                out,
                "  {} {}  {}",
                p.paint(st, c.action.marker()),
                p.paint(bold, &c.address),
                p.paint(st, action_word(c.action))
            );
            let _ = writeln!(out, "      {}", p.paint(dim, &c.reason));
            if let Some(b) = &c.blocked {
                if b != &c.reason {
                    let _ = writeln!(out, "      {}", p.paint(st, b));
                }
            }
            for f in &c.fields {
                if is_multiline(f) {
                    let _ = writeln!(out, "      {}:", clean(&f.path));
                    for (m, line) in field_diff(f) {
                        let s = match m {
                            '+' => p.action(Action::Create),
                            '-' => p.action(Action::Delete),
                            _ => dim,
                        };
                        let _ = writeln!(out, "        {}", p.paint(s, &format!("{m} {line}")));
                    }
                } else {
                    let _ = writeln!(
                        out,
                        "      {}: {} → {}",
                        clean(&f.path),
                        clean(&show_value(&f.before)),
                        clean(&show_value(&f.after))
                    );
                }
            }
            if c.regression {
                let _ = writeln!(
                    out,
                    "      {} {}",
                    p.paint(risk, "regression:"),
                    super::parts::REGRESSION
                );
            }
            if let Some(r) = &c.risk {
                let _ = writeln!(out, "      {} {}", p.paint(risk, "risk:"), clean(r));
            }
            if let Some(e) = &c.exception {
                let _ = writeln!(out, "      exception: {}", clean(e));
            }
            for g in &c.gates {
                let _ = writeln!(
                    out,
                    "      {}",
                    p.paint(
                        dim,
                        &format!("waits for: {}", crate::resources::describe(g))
                    )
                );
            }
        }
        for note in &inst.notes {
            let _ = writeln!(out, "  {} {}", p.paint(risk, "note:"), clean(note));
        }
        for e in &inst.exceptions {
            let label = if e.expired() || e.expiring() {
                p.paint(p.action(Action::Blocked), "exception:")
            } else {
                p.paint(dim, "exception:")
            };
            let _ = writeln!(out, "  {label} {}", clean(&e.describe()));
        }
    }
    let due: Vec<_> = plan
        .instances
        .iter()
        .filter_map(|i| i.rotation.as_ref().map(|r| (i, r)))
        .collect();
    if !due.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", p.paint(bold, super::parts::ROTATION_HEAD));
        for (i, r) in due {
            let st = match r.status {
                RotationStatus::Due => p.action(Action::Update),
                RotationStatus::Refused => p.action(Action::Blocked),
                _ => dim,
            };
            let _ = writeln!(
                out,
                "  {} {}: {}",
                p.paint(st, "↻"),
                p.paint(bold, &i.name),
                clean(&r.describe())
            );
        }
    }
    let _ = writeln!(out);
    let s = plan.summary();
    if !plan.has_changes() && !plan.is_failed() {
        let _ = writeln!(out, "{}", p.paint(bold, "No changes."));
    } else {
        let _ = writeln!(out, "{} {}", p.paint(bold, "Plan:"), summary_line(&s));
        if s.risks > 0 {
            let _ = writeln!(
                out,
                "{} change(s) carry a risk for running clients: read them before applying.",
                s.risks
            );
        }
        if plan.is_failed() {
            let _ = writeln!(
                out,
                "{}",
                p.paint(p.action(Action::Blocked), super::FAILED_LINE)
            );
        }
    }
    out
}

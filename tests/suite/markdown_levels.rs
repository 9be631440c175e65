//! The markdown budget level by level, on small plans made from the golden scenarios: each
//! budget just below what a level takes selects the next one; the hidden marker; bytes, not
//! characters; truncation that never splits a construct; markdown and JSON agreeing on drift
//! and blocked changes.

use std::path::Path;

use moat::model::{Action, InstancePlan, Plan};
use moat::observe::Observed;
use moat::render::markdown::{self, marker_id, Options};
use moat::render::{self, Format};

fn scenario(name: &str) -> Plan {
    let dir = Path::new("tests/golden").join(name);
    let bp = moat::blueprint::load(&dir.join("blueprint.yaml")).unwrap();
    let text = std::fs::read_to_string(dir.join("observed.json")).unwrap();
    let observed: Observed = serde_json::from_str(&text).unwrap();
    moat::plan::plan(&bp, &observed)
}

/// The scenario's one instance under another name (addresses and account renamed too).
fn renamed(plan: &Plan, name: &str) -> InstancePlan {
    let json = serde_json::to_string(&plan.instances[0]).unwrap();
    let json = json
        .replace("\"quickstart", &format!("\"{name}"))
        .replace("contoso-openai-prod", &format!("contoso-{name}"));
    serde_json::from_str(&json).unwrap()
}

fn md(plan: &Plan, max_bytes: usize) -> String {
    markdown::render_with(
        plan,
        &Options {
            max_bytes,
            ..Options::default()
        },
    )
}

/// Balanced constructs: code fences and `<details>`.
fn assert_well_formed(md: &str) {
    let fences = md.lines().filter(|l| l.starts_with("```")).count();
    assert_eq!(fences % 2, 0, "unbalanced code fence:\n{md}");
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count(),
        "unbalanced <details>:\n{md}"
    );
}

#[test]
fn a_plan_that_fits_renders_in_full_with_no_folded_line() {
    let plan = scenario("brownfield");
    let full = md(&plan, usize::MAX);
    assert_eq!(md(&plan, full.len()), full, "exactly the budget fits");
    assert!(!full.contains("**Folded") && !full.contains("**Truncated"));
    assert!(full.contains("#### `+` quickstart/defender-for-ai/Default create"));
}

#[test]
fn level_2_keeps_risky_changes_in_full_and_folds_the_others_per_kind() {
    let plan = scenario("brownfield");
    let full = md(&plan, usize::MAX);
    let out = md(&plan, full.len() - 1);
    assert!(out.len() < full.len());
    assert_well_formed(&out);
    // Every change with a risk keeps its heading, risk line and diff.
    for c in plan.changes().filter(|c| c.risk.is_some()) {
        let head = format!("#### `{}` {} ", c.action.marker(), c.address);
        assert!(out.contains(&head), "{head}");
        assert!(out.contains(&format!("**Risk:** {}", c.risk.as_deref().unwrap())));
    }
    // The others are one line per kind, in the instance's section.
    assert!(!out.contains("quickstart/defender-for-ai/Default create"));
    assert!(out.contains("- `defender-for-ai`: 1 create\n"));
    assert!(out.contains("- `role-assignment`: 1 create\n"));
    assert!(out.contains("— 22 change(s), 6 in full</summary>"));
    // The note stays, and the last line says what was folded.
    assert!(out.contains("> [!NOTE]"));
    let plain = plan
        .changes()
        .filter(|c| c.action.is_write() && c.risk.is_none() && !c.regression)
        .count();
    let last = out.lines().last().unwrap();
    let want = format!(
        "**Folded to fit {} bytes:** {plain} change(s) without risk in 1 instance(s) to one line per kind.",
        with_commas(full.len() - 1)
    );
    assert!(last.starts_with(&want), "{last}");
}

/// A budget a level's rendering does not fit in (its last line names the budget, whose digits
/// change its length a little).
fn just_below(level: &str) -> usize {
    level.len() - 16
}

fn with_commas(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (k, ch) in s.chars().enumerate() {
        if k > 0 && (s.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Two brownfield instances, and one whose changes carry no risk.
fn mixed() -> Plan {
    let brown = scenario("brownfield");
    let mut quiet = renamed(&brown, "quiet");
    quiet.changes.retain(|c| c.risk.is_none() && !c.regression);
    quiet.notes.clear();
    let mut plan = brown.clone();
    plan.instances = vec![renamed(&brown, "east"), quiet, renamed(&brown, "west")];
    plan
}

#[test]
fn level_3_folds_instances_without_risky_changes_to_their_row() {
    let plan = mixed();
    let level2 = md(&plan, md(&plan, usize::MAX).len() - 1);
    assert!(
        level2.contains("<b>quiet</b>"),
        "level 2 still has the section"
    );
    let out = md(&plan, just_below(&level2));
    assert_well_formed(&out);
    assert!(!out.contains("<b>quiet</b>"), "{out}");
    assert!(out.contains("| quiet | "), "its row in the counts table");
    assert!(out.contains("<b>east</b>") && out.contains("<b>west</b>"));
    assert!(out.contains("1 instance(s) without risky changes ("));
    assert!(!out.contains("shown once each"));
}

#[test]
fn level_4_shows_a_risky_change_shared_by_instances_once_naming_them() {
    let plan = mixed();
    let level2 = md(&plan, md(&plan, usize::MAX).len() - 1);
    let level3 = md(&plan, just_below(&level2));
    let out = md(&plan, just_below(&level3));
    assert!(out.len() < level3.len());
    assert_well_formed(&out);
    assert!(!out.contains("<details>"), "no per-instance sections");
    let head = "#### `~` account/local-auth update — 2 instance(s)\n\n**Instances:** east, west\n";
    assert!(out.contains(head), "{out}");
    // The risks table is grouped the same way.
    assert!(
        out.contains("| `account/public-network-access` | update | disables public network access")
    );
    assert!(out.contains("| east, west |"));
    // The note, once, naming both instances.
    assert_eq!(out.matches("> [!NOTE]").count(), 1);
    let last = out.lines().last().unwrap();
    assert!(last.contains("shown once each, as "), "{last}");
    assert!(
        last.contains("to their instance's row in the counts table"),
        "{last}"
    );
}

#[test]
fn level_5_cuts_between_pieces_and_says_what_is_missing() {
    let plan = mixed();
    let out = md(&plan, markdown::MIN_BYTES);
    assert!(out.len() <= markdown::MIN_BYTES, "{} bytes", out.len());
    assert_well_formed(&out);
    assert!(out.starts_with("<!-- moat-plan: tests/golden/brownfield/blueprint.yaml -->\n"));
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("**Truncated to fit 1,024 bytes:** "),
        "{last}"
    );
    let risky = plan
        .changes()
        .filter(|c| c.risk.is_some() || c.regression || c.action == Action::Delete)
        .count();
    assert!(
        last.contains(&format!("{risky} change(s) to read in full")),
        "none is dropped silently: {last}"
    );
    // A larger budget keeps more parts, in order, and still cuts cleanly.
    let level2 = md(&plan, md(&plan, usize::MAX).len() - 1);
    let level4 = md(&plan, just_below(&md(&plan, just_below(&level2))));
    assert!(level4.contains("shown once each"));
    let max = just_below(&level4);
    let more = md(&plan, max);
    assert!(more.len() <= max && more.len() > out.len());
    assert_well_formed(&more);
    let last = more.lines().last().unwrap();
    assert!(
        last.starts_with(&format!(
            "**Truncated to fit {} bytes:** ",
            with_commas(max)
        )),
        "{last}"
    );
    let folded = more.lines().rev().nth(1).unwrap();
    assert!(
        folded.starts_with("**Folded to fit "),
        "what was folded, then what was cut: {folded}"
    );
}

#[test]
fn the_budget_counts_bytes_and_never_splits_a_multi_byte_character() {
    let mut plan = mixed();
    for i in &mut plan.instances {
        for c in &mut i.changes {
            c.reason = format!("🔒 durcissement sécurisé — {}", c.reason);
        }
    }
    let full = md(&plan, usize::MAX);
    let chars = full.chars().count();
    assert!(chars < full.len());
    // As many characters as the full rendering has are too few bytes: it folds.
    let out = md(&plan, chars);
    assert_ne!(out, full);
    assert!(out.len() <= chars);
    for max in [markdown::MIN_BYTES, 3_000, 7_777, 12_345] {
        let out = md(&plan, max);
        assert!(out.len() <= max, "{max}: {} bytes", out.len());
        assert_well_formed(&out);
        assert!(out.ends_with(".\n"), "{max}: ends with its last line");
    }
}

#[test]
fn the_marker_is_the_first_line_and_cannot_close_the_comment() {
    let plan = scenario("converged");
    let out = render::render(&plan, Format::Markdown, false);
    assert!(
        out.starts_with("<!-- moat-plan: tests/golden/converged/blueprint.yaml -->\n## moat plan")
    );
    let custom = markdown::render_with(
        &plan,
        &Options {
            marker: Some("bot-1 --> <b>x</b>\u{1b}[2J\nnext".into()),
            ..Options::default()
        },
    );
    let first = custom.lines().next().unwrap();
    assert_eq!(first, "<!-- moat-plan: bot-1_-____b_x_/b___2J_next -->");
    assert_eq!(first.matches("-->").count(), 1);
    assert_eq!(marker_id("a--b---c"), "a-_b-_-c");
    assert_eq!(marker_id(""), "plan");
    assert_eq!(marker_id("\u{7}\u{7}"), "plan");
    assert_eq!(marker_id("é/ü"), "_/_");
    assert_eq!(marker_id(&"x".repeat(500)).len(), 128);
    assert_eq!(marker_id("infra/fleet.yaml#prod"), "infra/fleet.yaml#prod");
}

/// Drift and blocked are counted apart in the markdown, listed in its risks table, and the JSON
/// says the same: both fail the plan.
#[test]
fn markdown_and_json_agree_on_drift_and_blocked_changes() {
    for (name, drift, blocked) in [("verify-drift", 1, 0), ("blocked", 0, 2)] {
        let plan = scenario(name);
        let doc: serde_json::Value =
            serde_json::from_str(&render::render(&plan, Format::Json, false)).unwrap();
        assert_eq!(doc["failed"], true, "{name}");
        assert_eq!(doc["summary"]["drift"], drift, "{name}");
        assert_eq!(doc["summary"]["blocked"], blocked, "{name}");
        let out = render::render(&plan, Format::Markdown, false);
        assert!(out.contains("| instance | create | update | delete | drift | blocked |"));
        assert!(
            out.contains(&format!("| quickstart | 0 | 0 | 0 | {drift} | {blocked} |")),
            "{name}:\n{out}"
        );
        for c in plan
            .changes()
            .filter(|c| matches!(c.action, Action::Drift | Action::Blocked))
        {
            let word = render::action_word(c.action);
            assert!(
                out.contains(&format!("| quickstart | `{}` | {word} | ", c.address)),
                "{name}: {} is not in the risks table",
                c.address
            );
        }
    }
}

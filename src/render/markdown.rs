//! Markdown for pull-request comments: a hidden marker a bot finds its comment by, a summary,
//! the risks table, per-instance counts, and one collapsible section per instance — within a
//! size budget (`--max-bytes`, by default what the comment host accepts).
//!
//! When the whole rendering does not fit, it degrades in fixed levels, the first that fits wins:
//! 1. everything;
//! 2. risky changes in full, the others of each instance folded to one line per kind;
//! 3. and instances without a risky change folded to their row of the counts table;
//! 4. and a risky change that several instances share in full once, naming them (the risks
//!    table grouped the same way);
//! 5. the pieces of level 4 that fit, risks and changes in full before notes and counts, saying
//!    what it left out (how many risky changes among it).
//!
//! Every level but the first ends with a line saying what was folded. Pieces are whole markdown
//! constructs (a table, a change, a section): a cut never splits a code fence, a `<details>` or
//! a multi-byte character.

use super::md_parts::{self as parts, esc, is_risky};
use super::{summary_line, visible};
use crate::model::{Change, InstancePlan, Plan};

/// Where the comment goes: the default budget is that host's limit less a margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CommentHost {
    /// GitHub issue and pull-request comments: at most 65,536 characters.
    #[default]
    Github,
    /// Azure DevOps pull-request thread comments: at most 150,000 characters.
    AzureDevops,
}

impl CommentHost {
    /// The host's limit, in characters.
    pub const fn limit(self) -> usize {
        match self {
            CommentHost::Github => 65_536,
            CommentHost::AzureDevops => 150_000,
        }
    }

    /// The default `--max-bytes`: the limit less room for a bot's own header or footer. Bytes
    /// are counted, and a character is at least one byte, so the rendering fits in characters
    /// too.
    pub const fn budget(self) -> usize {
        match self {
            CommentHost::Github => 64_000,
            CommentHost::AzureDevops => 148_000,
        }
    }
}

/// The smallest `--max-bytes` accepted: the marker, the title and the final line fit in it.
pub const MIN_BYTES: usize = 1024;

/// How to render the markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The most bytes the rendering may take (at least [`MIN_BYTES`]; below that, the marker and
    /// the truncation line alone may take more).
    pub max_bytes: usize,
    /// The id in the hidden marker (`<!-- moat-plan: ID -->`); the blueprint's path when unset.
    pub marker: Option<String>,
    /// The saved plan (`plan --out`, the file `show` reads), named in the folded line.
    pub saved: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_bytes: CommentHost::default().budget(),
            marker: None,
            saved: None,
        }
    }
}

/// The markdown with the default options.
pub fn render(plan: &Plan) -> String {
    render_with(plan, &Options::default())
}

/// The markdown; control characters from the blueprint or ARM escaped (markdown has no escape of
/// its own for them) and secrets redacted, piece by piece (each piece's only line breaks are
/// moat's: table cells and headings replace a value's own), before the pieces are measured.
pub fn render_with(plan: &Plan, opts: &Options) -> String {
    let mut last = Doc::default();
    for level in LEVELS {
        let doc = compose(plan, opts, level);
        let text = doc.text();
        if text.len() <= opts.max_bytes {
            return text;
        }
        last = doc;
    }
    truncate(last, opts)
}

/// The first line: an HTML comment the host hides, for a bot to find its own comment by.
pub fn marker_line(plan: &Plan, opts: &Options) -> String {
    let id = opts.marker.as_deref().unwrap_or(&plan.blueprint.path);
    format!("<!-- moat-plan: {} -->\n", marker_id(id))
}

/// The marker's id as it is written: ASCII letters, digits and `._/:@+=,~#`, any other
/// character `_`, no two `-` in a row (so never `-->` or `--`), at most 128 bytes; `plan` when
/// nothing is left.
pub fn marker_id(id: &str) -> String {
    let mut out = String::new();
    for ch in id.chars() {
        let keep = ch.is_ascii_alphanumeric() || "._/:@+=,~#".contains(ch);
        let c = if keep || (ch == '-' && !out.ends_with('-')) {
            ch
        } else {
            '_'
        };
        if out.len() == 128 {
            break;
        }
        out.push(c);
    }
    if out.trim_matches('_').is_empty() {
        return "plan".into();
    }
    out
}

#[derive(Debug, Clone, Copy)]
struct Level {
    /// Changes without risk as one line per kind.
    fold_plain: bool,
    /// Instances without a risky change as their counts row only.
    fold_quiet: bool,
    /// A risky change shared by several instances once.
    group: bool,
}

const LEVELS: [Level; 4] = [
    Level {
        fold_plain: false,
        fold_quiet: false,
        group: false,
    },
    Level {
        fold_plain: true,
        fold_quiet: false,
        group: false,
    },
    Level {
        fold_plain: true,
        fold_quiet: true,
        group: false,
    },
    Level {
        fold_plain: true,
        fold_quiet: true,
        group: true,
    },
];

/// What a piece is, in the order a cut keeps them (level 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
enum Part {
    /// Marker, title, summary line, caution banner, the heading of the changes in full.
    #[default]
    Head,
    /// The risks table and the standing exceptions.
    Risks,
    /// A change (or an instance's section) in full.
    Change,
    /// Notes.
    Notes,
    /// The per-instance counts.
    Counts,
}

/// One piece of the rendering, cleaned, and how many risky changes it shows in full.
#[derive(Debug, Default)]
struct Piece {
    part: Part,
    text: String,
    risky: usize,
}

#[derive(Debug, Default)]
struct Doc {
    pieces: Vec<Piece>,
    /// The folded line, cleaned, when anything was folded: said after the pieces.
    folded: Option<String>,
    /// Every risky change in the plan.
    risky: usize,
    /// The piece that heads the changes in full (level 4).
    changes_heading: Option<usize>,
}

/// Control characters escaped and secrets redacted (the saved plan's path is the user's).
fn clean(text: &str) -> String {
    crate::sanitize::clean_output(text).into_owned()
}

impl Doc {
    fn push(&mut self, part: Part, text: String, risky: usize) {
        self.pieces.push(Piece {
            part,
            text: clean(&text),
            risky,
        });
    }

    fn text(&self) -> String {
        let mut s: String = self.pieces.iter().map(|p| p.text.as_str()).collect();
        if let Some(f) = &self.folded {
            s.push_str(f);
        }
        s
    }
}

/// What a level folded, for its last line.
#[derive(Debug, Default)]
struct Folded {
    plain: usize,
    plain_in: usize,
    quiet: usize,
    quiet_changes: usize,
    grouped: usize,
    groups: usize,
    /// Level 4: changes without risk are in the counts table only.
    grouped_level: bool,
}

fn compose(plan: &Plan, opts: &Options, level: Level) -> Doc {
    let mut doc = Doc {
        risky: plan.changes().filter(|c| is_risky(c)).count(),
        ..Doc::default()
    };
    doc.push(Part::Head, marker_line(plan, opts), 0);
    doc.push(
        Part::Head,
        format!("## moat plan: `{}`\n\n", plan.blueprint.path),
        0,
    );
    if !plan.has_changes() && !plan.is_failed() {
        doc.push(
            Part::Head,
            "**No changes.** Live state matches the blueprint.\n".into(),
            0,
        );
        doc.push(Part::Risks, parts::exceptions(plan), 0);
        doc.push(Part::Risks, parts::rotation(plan), 0);
        return doc;
    }
    doc.push(
        Part::Head,
        format!("**{}**\n\n", summary_line(&plan.summary())),
        0,
    );
    if plan.is_failed() {
        doc.push(
            Part::Head,
            format!("> [!CAUTION]\n> {}\n\n", super::FAILED_LINE),
            0,
        );
    }
    doc.push(Part::Risks, parts::exceptions(plan), 0);
    doc.push(Part::Risks, parts::rotation(plan), 0);
    let rows = || {
        plan.instances
            .iter()
            .flat_map(|i| i.changes.iter().map(move |c| (i, c)))
            .filter(|(_, c)| parts::in_risks_table(c))
    };
    if rows().next().is_some() {
        let table = if level.group {
            grouped_risks_table(plan)
        } else {
            parts::risks_table(rows())
        };
        doc.push(Part::Risks, table, 0);
    }
    doc.push(Part::Counts, parts::counts_table(plan), 0);
    let mut folded = Folded::default();
    if level.group {
        groups(plan, &mut doc, &mut folded);
    } else {
        for i in &plan.instances {
            section(i, level, &mut doc, &mut folded);
        }
    }
    doc.folded = folded_line(&folded, opts).map(|f| clean(&f));
    doc
}

/// One instance's collapsible section (none for an instance folded to its row).
fn section(i: &InstancePlan, level: Level, doc: &mut Doc, folded: &mut Folded) {
    let shown: Vec<&Change> = i.changes.iter().filter(|c| visible(c)).collect();
    let (risky, plain): (Vec<&Change>, Vec<&Change>) = shown.iter().partition(|c| is_risky(c));
    // Notes (a privileged role moat leaves alone) keep their section.
    if level.fold_quiet && risky.is_empty() && i.notes.is_empty() {
        folded.quiet += 1;
        folded.quiet_changes += shown.len();
        return;
    }
    let mut out = format!(
        "<details><summary><b>{}</b> — {} change(s)",
        i.name,
        shown.len()
    );
    if level.fold_plain && !plain.is_empty() {
        out.push_str(&format!(", {} in full", risky.len()));
    }
    out.push_str(&format!("</summary>\n\n`{}`\n\n", i.account_id));
    if shown.is_empty() {
        out.push_str("No changes.\n\n");
    }
    for c in &shown {
        if !level.fold_plain || is_risky(c) {
            out.push_str(&parts::change(c, &c.address, None, Some(&parts::gates(c))));
        }
    }
    if level.fold_plain && !plain.is_empty() {
        out.push_str(&parts::folded_lines(&plain));
        folded.plain += plain.len();
        folded.plain_in += 1;
    }
    for n in &i.notes {
        out.push_str(&format!("> [!NOTE]\n> {n}\n\n"));
    }
    out.push_str("</details>\n\n");
    doc.push(Part::Change, out, risky.len());
}

/// Risky changes that are the same in several instances (address within the instance, action,
/// fields, reason, risk, blocked reason, exception), in order of first appearance.
struct Group<'a> {
    change: &'a Change,
    title: &'a str,
    names: Vec<&'a str>,
    gates: Option<Vec<String>>,
}

fn same(a: &Change, b: &Change) -> bool {
    a.action == b.action
        && a.fields == b.fields
        && a.reason == b.reason
        && a.risk == b.risk
        && a.blocked == b.blocked
        && a.exception == b.exception
}

fn group_changes<'a>(plan: &'a Plan, pick: impl Fn(&Change) -> bool) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    for i in &plan.instances {
        for c in i.changes.iter().filter(|c| pick(c)) {
            let title = parts::relative(i, c);
            let gates = parts::gates(c);
            match groups
                .iter_mut()
                .find(|g| g.title == title && same(g.change, c))
            {
                Some(g) => {
                    g.names.push(&i.name);
                    if g.gates.as_ref() != Some(&gates) {
                        g.gates = None;
                    }
                }
                None => groups.push(Group {
                    change: c,
                    title,
                    names: vec![&i.name],
                    gates: Some(gates),
                }),
            }
        }
    }
    groups
}

fn grouped_risks_table(plan: &Plan) -> String {
    let mut out = String::from(
        "### Risks, blocked changes and drift\n\n| change | action | risk | instances |\n|---|---|---|---|\n",
    );
    for g in group_changes(plan, parts::in_risks_table) {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            g.title,
            super::action_word(g.change.action),
            esc(parts::risk_text(g.change)),
            esc(&g.names.join(", "))
        ));
    }
    out.push('\n');
    out
}

/// Level 4: every risky change in full once per group; everything else is in the tables.
fn groups(plan: &Plan, doc: &mut Doc, folded: &mut Folded) {
    folded.grouped_level = true;
    for i in &plan.instances {
        let shown = i.changes.iter().filter(|c| visible(c));
        let plain = shown.clone().filter(|c| !is_risky(c)).count();
        if shown.clone().any(is_risky) {
            folded.plain += plain;
            folded.plain_in += usize::from(plain > 0);
        } else {
            folded.quiet += 1;
            folded.quiet_changes += plain;
        }
    }
    notes(plan, doc);
    let groups = group_changes(plan, is_risky);
    if groups.is_empty() {
        return;
    }
    doc.changes_heading = Some(doc.pieces.len());
    doc.push(Part::Head, "### Changes to read in full\n\n".into(), 0);
    for g in &groups {
        let names = (g.names.len() > 1).then_some(g.names.as_slice());
        if let Some(n) = names {
            folded.grouped += n.len();
            folded.groups += 1;
        }
        let title = if names.is_some() {
            g.title
        } else {
            &g.change.address
        };
        let text = parts::change(g.change, title, names, g.gates.as_deref());
        doc.push(Part::Change, text, g.names.len());
    }
}

/// Level 4: every note once, naming its instances.
fn notes(plan: &Plan, doc: &mut Doc) {
    let mut notes: Vec<(&str, Vec<&str>)> = Vec::new();
    for i in &plan.instances {
        for n in &i.notes {
            match notes.iter_mut().find(|(t, _)| *t == n.as_str()) {
                Some((_, names)) => names.push(&i.name),
                None => notes.push((n, vec![&i.name])),
            }
        }
    }
    if notes.is_empty() {
        return;
    }
    let mut out = String::from(
        "### Notes

",
    );
    for (n, names) in notes {
        out.push_str(&format!(
            "> [!NOTE]\n> {n}\n>\n> **Instances:** {}\n\n",
            esc(&names.join(", "))
        ));
    }
    doc.push(Part::Notes, out, 0);
}

/// `1234567` as `1,234,567`.
pub fn with_commas(n: usize) -> String {
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

/// Where the whole plan can be read.
fn see_all(opts: &Options) -> String {
    match opts.saved.as_ref().filter(|p| p.len() <= 200) {
        Some(p) => format!("`moat show {}` shows all of it", p.replace('`', "'")),
        None => {
            "`moat plan --out plan.json` saves the plan, and `moat show plan.json` shows all of it"
                .into()
        }
    }
}

fn folded_line(f: &Folded, opts: &Options) -> Option<String> {
    let mut said = Vec::new();
    if f.plain > 0 {
        let to = if f.grouped_level {
            "their instance's row in the counts table"
        } else {
            "one line per kind"
        };
        said.push(format!(
            "{} change(s) without risk in {} instance(s) to {to}",
            f.plain, f.plain_in
        ));
    }
    if f.quiet > 0 {
        said.push(format!(
            "{} instance(s) without risky changes ({} change(s)) to their row in the counts table",
            f.quiet, f.quiet_changes
        ));
    }
    if f.groups > 0 {
        said.push(format!(
            "{} risky change(s) shared by several instances shown once each, as {} change(s) naming their instances",
            f.grouped, f.groups
        ));
    }
    if said.is_empty() {
        return None;
    }
    Some(format!(
        "**Folded to fit {} bytes:** {}. {}.\n",
        with_commas(opts.max_bytes),
        said.join("; "),
        see_all(opts)
    ))
}

/// Level 5: the pieces of level 4 that fit, chosen in the order of [`Part`] (the head, the
/// risks, the changes in full, notes, counts; in document order within each) and printed in
/// document order, then a last line saying what is missing.
fn truncate(doc: Doc, opts: &Options) -> String {
    let total = doc.pieces.len();
    let last = |kept: usize, dropped: &[Part], missing: usize| {
        let mut not_shown: Vec<&str> = Vec::new();
        for (part, what) in [
            (Part::Head, "part of the heading"),
            (Part::Risks, "the risks table or the standing exceptions"),
            (Part::Notes, "the notes"),
            (Part::Counts, "the counts table"),
        ] {
            if dropped.contains(&part) {
                not_shown.push(what);
            }
        }
        let missing = format!("{missing} change(s) to read in full (risks, regressions, deletes, blocked changes, drift, exceptions)");
        not_shown.push(&missing);
        clean(&format!(
            "**Truncated to fit {} bytes:** {kept} of {total} parts shown; not shown here: {}. {}.\n",
            with_commas(opts.max_bytes),
            not_shown.join(", "),
            see_all(opts)
        ))
    };
    // Room for the last line, whose numbers are at most this long.
    let every = [Part::Head, Part::Risks, Part::Notes, Part::Counts];
    let longest = last(total, &every, doc.risky).len();
    // The marker is always kept: a bot must still find the comment.
    let marker = doc.pieces.first().map_or(0, |p| p.text.len());
    // What level 4 folded is said too, when there is room for it.
    let folded = doc
        .folded
        .filter(|f| marker + f.len() + longest <= opts.max_bytes)
        .unwrap_or_default();
    let room = opts.max_bytes.saturating_sub(folded.len() + longest);
    let mut order: Vec<usize> = (1..total).collect();
    order.sort_by_key(|&k| doc.pieces[k].part);
    let mut keep = vec![false; total];
    keep[0] = true;
    let mut used = marker;
    for k in order {
        let len = doc.pieces[k].text.len();
        if used + len <= room {
            keep[k] = true;
            used += len;
        }
    }
    // The heading of the changes in full goes when none of them is left.
    let no_change = !(0..total).any(|k| keep[k] && doc.pieces[k].part == Part::Change);
    if let Some(k) = doc.changes_heading.filter(|_| no_change) {
        keep[k] = false;
    }
    let mut out = String::new();
    let (mut kept, mut shown_risky, mut dropped) = (0, 0, Vec::new());
    for (k, p) in doc.pieces.iter().enumerate() {
        if keep[k] {
            out.push_str(&p.text);
            kept += 1;
            shown_risky += p.risky;
        } else if !dropped.contains(&p.part) && doc.changes_heading != Some(k) {
            // (The changes in full are counted instead of their heading.)
            dropped.push(p.part);
        }
    }
    out.push_str(&folded);
    out.push_str(&last(kept, &dropped, doc.risky.saturating_sub(shown_risky)));
    out
}

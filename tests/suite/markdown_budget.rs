//! Markdown that fits a pull-request comment: a 40-instance brownfield fleet planned by the
//! library planner from the golden scenarios (each instance renamed), whose default-budget
//! markdown fits GitHub's limit with every change to read in full still in full; the folding as
//! a golden file (`UPDATE_GOLDEN=1 cargo test --test suite golden` regenerates it).

use std::path::Path;

use moat::model::{Action, Change, Plan};
use moat::observe::Observed;
use moat::render::markdown::{self, CommentHost, Options};
use moat::render::{self, show_value, Format};

/// The scenarios the fleet is made of, and how many instances of each: mostly brownfield, with
/// blocked changes, verify-only drift, weakenings with exceptions, deletes and converged ones.
const MIX: [(&str, usize); 6] = [
    ("brownfield", 30),
    ("blocked", 2),
    ("verify-drift", 2),
    ("exception", 2),
    ("deletes", 2),
    ("converged", 2),
];

/// The fleet: each instance a golden scenario's instance renamed `app-NN` (account
/// `contoso-openai-NN`), planned together by the library planner.
pub fn fleet() -> Plan {
    let mut yaml =
        String::from("version: 1\nimports: [blueprints/strict-baseline.yaml]\ninstances:\n");
    let mut observed = Observed::default();
    let mut n = 0;
    for (scenario, count) in MIX {
        let dir = Path::new("tests/golden").join(scenario);
        let bp = std::fs::read_to_string(dir.join("blueprint.yaml")).unwrap();
        let inst = bp.split_once("\ninstances:\n").unwrap().1;
        let obs = std::fs::read_to_string(dir.join("observed.json")).unwrap();
        for _ in 0..count {
            n += 1;
            let rename = |s: &str| {
                s.replace("contoso-openai-prod", &format!("contoso-openai-{n:02}"))
                    .replace("name: quickstart", &format!("name: app-{n:02}"))
                    .replace(
                        "\"name\": \"quickstart\"",
                        &format!("\"name\": \"app-{n:02}\""),
                    )
            };
            yaml.push_str(&rename(inst));
            let o: Observed = serde_json::from_str(&rename(&obs)).unwrap();
            observed.instances.extend(o.instances);
        }
    }
    let bp = moat::blueprint::load_str("fleet-40.yaml", &yaml).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(bp.instances.len(), 40);
    moat::plan::plan(&bp, &observed)
}

/// What the budget promises to keep in full.
fn to_read_in_full(c: &Change) -> bool {
    !matches!(c.action, Action::NoOp | Action::Verified)
        && (c.risk.is_some()
            || c.exception.is_some()
            || c.regression
            || matches!(c.action, Action::Delete | Action::Blocked | Action::Drift))
}

/// The block under a `#### ` heading, up to the next heading or section end.
fn block_after<'a>(md: &'a str, heading: &str) -> Option<&'a str> {
    let start = md.find(heading)? + heading.len();
    let rest = &md[start..];
    let end = [
        "\n#### ",
        "\n### ",
        "</details>",
        "\n**Folded to fit",
        "\n**Truncated to fit",
    ]
    .iter()
    .filter_map(|m| rest.find(m))
    .min()
    .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// `c` of instance `inst` is in `md` in full: under its own heading, or under the heading of
/// the change shown once for several instances, naming `inst`; with its reason, risk, blocked
/// reason, exception and every field line.
fn assert_in_full(md: &str, inst: &str, c: &Change) {
    let word = render::action_word(c.action);
    let own = format!("#### `{}` {} {word}\n", c.action.marker(), c.address);
    let rel = c.address.strip_prefix(&format!("{inst}/")).unwrap();
    let shared = format!("#### `{}` {rel} {word} — ", c.action.marker());
    let block = block_after(md, &own)
        .or_else(|| {
            let mut from = 0;
            while let Some(k) = md[from..].find(&shared) {
                let b = block_after(&md[from + k..], &shared).unwrap();
                let names = b
                    .split("**Instances:** ")
                    .nth(1)
                    .and_then(|s| s.lines().next());
                if names.is_some_and(|n| n.split(", ").any(|x| x == inst)) && b.contains(&c.reason)
                {
                    return Some(b);
                }
                from += k + shared.len();
            }
            None
        })
        .unwrap_or_else(|| panic!("{} is not in full in the markdown", c.address));
    assert!(block.contains(&c.reason), "{}: reason", c.address);
    for s in [&c.risk, &c.blocked, &c.exception].into_iter().flatten() {
        assert!(block.contains(s.as_str()), "{}: {s}", c.address);
    }
    for f in &c.fields {
        let lines: Vec<String> = if render::is_multiline(f) {
            vec![format!("  {}:", f.path)]
        } else {
            [("-", &f.before), ("+", &f.after)]
                .into_iter()
                .filter(|(_, v)| v.is_some())
                .map(|(m, v)| format!("{m} {}: {}", f.path, show_value(v)))
                .collect()
        };
        for l in lines {
            assert!(block.contains(&l), "{}: field line {l}", c.address);
        }
    }
}

#[test]
fn golden_fleet_of_40_fits_the_default_budget_with_every_risky_change_in_full() {
    let plan = fleet();
    let risky: Vec<_> = plan
        .instances
        .iter()
        .flat_map(|i| i.changes.iter().map(move |c| (i, c)))
        .filter(|(_, c)| to_read_in_full(c))
        .collect();
    assert!(
        risky.len() > 100,
        "a fleet with many risky changes: {}",
        risky.len()
    );
    assert!(risky.iter().any(|(_, c)| c.action == Action::Drift));
    assert!(risky.iter().any(|(_, c)| c.action == Action::Blocked));
    assert!(risky.iter().any(|(_, c)| c.action == Action::Delete));
    assert!(risky.iter().any(|(_, c)| c.exception.is_some()));

    let unbounded = Options {
        max_bytes: usize::MAX,
        ..Options::default()
    };
    let full = markdown::render_with(&plan, &unbounded);
    assert!(
        full.len() > 3 * 65_536,
        "the fleet's full markdown is {} bytes",
        full.len()
    );
    assert!(!full.contains("**Folded to fit"));

    let md = render::render(&plan, Format::Markdown, false);
    assert!(md.len() <= 64_000, "{} bytes", md.len());
    assert!(md.len() <= CommentHost::Github.limit());
    assert!(md.starts_with("<!-- moat-plan: fleet-40.yaml -->\n"));
    assert!(
        md.contains("\n**Folded to fit 64,000 bytes:** "),
        "says what it folded"
    );
    assert!(!md.contains("**Truncated to fit"));
    assert!(md
        .lines()
        .last()
        .unwrap()
        .starts_with("**Folded to fit 64,000 bytes:** "));
    for (i, c) in &risky {
        assert_in_full(&md, &i.name, c);
    }
    // Drift and blocked changes are in the risks table, named with their instances.
    for (i, c) in risky.iter().filter(|(_, c)| in_table(c)) {
        let rel = c.address.strip_prefix(&format!("{}/", i.name)).unwrap();
        let row = md
            .lines()
            .find(|l| {
                l.starts_with(&format!("| `{rel}` | {} |", render::action_word(c.action)))
                    && l.split(" | ")
                        .last()
                        .is_some_and(|n| n.trim_end_matches(" |").split(", ").any(|x| x == i.name))
            })
            .unwrap_or_else(|| panic!("{} is not in the risks table", c.address));
        assert!(!row.is_empty());
    }
    if let Some(d) = crate::golden::check(Path::new("tests/golden"), "fleet-40.md", &md) {
        panic!("tests/golden/fleet-40.md differs (UPDATE_GOLDEN=1 to accept):\n{d}");
    }

    // Azure DevOps takes more: the fleet fits with fewer folds.
    let ado = markdown::render_with(
        &plan,
        &Options {
            max_bytes: CommentHost::AzureDevops.budget(),
            ..Options::default()
        },
    );
    assert!(ado.len() <= 148_000 && ado.len() > md.len());
}

fn in_table(c: &Change) -> bool {
    (c.risk.is_some() && c.action.is_write()) || matches!(c.action, Action::Blocked | Action::Drift)
}

/// The check above fails when a detail is missing: a risk line, a field line, an instance.
#[test]
fn the_in_full_check_catches_a_missing_detail() {
    let plan = fleet();
    let md = render::render(&plan, Format::Markdown, false);
    let (i, c) = plan
        .instances
        .iter()
        .flat_map(|i| i.changes.iter().map(move |c| (i, c)))
        .find(|(_, c)| c.risk.is_some() && !c.fields.is_empty())
        .unwrap();
    assert_in_full(&md, &i.name, c);
    let risk = format!("**Risk:** {}", c.risk.as_deref().unwrap());
    let line = md.lines().find(|l| l.starts_with("+ properties.")).unwrap();
    for broken in [
        md.replace(&risk, "**Risk:** (elided)"),
        md.replace(line, "+ (elided)"),
        md.replace(&format!("{}, ", i.name), ""),
    ] {
        let caught = std::panic::catch_unwind(|| assert_in_full(&broken, &i.name, c)).is_err()
            || plan
                .instances
                .iter()
                .flat_map(|i| i.changes.iter().map(move |c| (i, c)))
                .filter(|(_, c)| to_read_in_full(c))
                .any(|(i, c)| {
                    std::panic::catch_unwind(|| assert_in_full(&broken, &i.name, c)).is_err()
                });
        assert!(caught, "a mangled rendering passed the check");
    }
}

fn moat(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = assert_cmd::Command::cargo_bin("moat")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("MOAT_ARM_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("MOAT_ACCESS_TOKEN")
        .args(args)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The flags on `moat show` (the same flags as `moat plan`'s): the host's default budget,
/// `--max-bytes`, `--marker`, and a budget too small to hold the last line refused as a usage
/// error.
#[test]
fn show_sizes_and_marks_the_fleet_markdown_with_its_flags() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("plan.json"), render::json::render(&fleet())).unwrap();
    let (code, github, err) = moat(tmp.path(), &["show", "plan.json", "--format", "markdown"]);
    assert_eq!(code, 0, "{err}");
    assert!(github.len() <= 64_000);
    assert!(github.starts_with("<!-- moat-plan: fleet-40.yaml -->\n"));
    let last = github.lines().last().unwrap();
    assert!(
        last.starts_with("**Folded to fit 64,000 bytes:** "),
        "{last}"
    );
    assert!(
        last.ends_with("`moat show plan.json` shows all of it."),
        "{last}"
    );

    let (code, ado, err) = moat(
        tmp.path(),
        &[
            "show",
            "plan.json",
            "--format",
            "markdown",
            "--comment-host",
            "azure-devops",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(ado.len() <= 148_000 && ado.len() > github.len());
    assert!(ado
        .lines()
        .last()
        .unwrap()
        .starts_with("**Folded to fit 148,000 bytes:** "));

    let (code, small, err) = moat(
        tmp.path(),
        &[
            "show",
            "plan.json",
            "--format",
            "markdown",
            "--max-bytes",
            "5000",
            "--marker",
            "pr-bot/fleet",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(small.len() <= 5000, "{} bytes", small.len());
    assert!(small.starts_with("<!-- moat-plan: pr-bot/fleet -->\n"));
    assert!(small
        .lines()
        .last()
        .unwrap()
        .starts_with("**Truncated to fit 5,000 bytes:** "));

    let (code, out, err) = moat(
        tmp.path(),
        &[
            "show",
            "plan.json",
            "--format",
            "markdown",
            "--max-bytes",
            "100",
        ],
    );
    assert_eq!(code, 1, "a usage error: {out}");
    assert!(err.contains("--max-bytes"), "{err}");
}

/// A budget too small for level 4 keeps the head, the risks and as many changes in full as fit
/// before notes and counts, in document order, and says how many it could not show in full.
#[test]
fn a_cut_keeps_risks_and_changes_in_full_before_the_counts() {
    let plan = fleet();
    let out = markdown::render_with(
        &plan,
        &Options {
            max_bytes: 8_000,
            saved: Some("plan.json".into()),
            ..Options::default()
        },
    );
    assert!(out.len() <= 8_000, "{} bytes", out.len());
    assert_eq!(out.lines().filter(|l| l.starts_with("```")).count() % 2, 0);
    let risks = out
        .find("### Risks, blocked changes and drift")
        .expect("the risks table");
    let changes = out
        .find("### Changes to read in full")
        .expect("changes in full");
    assert!(risks < changes, "document order");
    assert!(
        !out.contains("| instance | create |"),
        "the counts table goes first"
    );
    // The changes shown in full, counted per instance, and the rest said to be missing.
    let shown: usize = out
        .lines()
        .filter(|l| l.starts_with("#### "))
        .map(|l| {
            l.rsplit_once(" — ")
                .and_then(|(_, n)| n.strip_suffix(" instance(s)"))
                .map_or(1, |n| n.parse::<usize>().unwrap())
        })
        .sum();
    assert!(shown > 0);
    let total = plan.changes().filter(|c| to_read_in_full(c)).count();
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("**Truncated to fit 8,000 bytes:** "),
        "{last}"
    );
    assert!(
        last.contains(&format!(
            "not shown here: the notes, the counts table, {} change(s) to read in full",
            total - shown
        )),
        "{last}"
    );
    assert!(
        last.ends_with("`moat show plan.json` shows all of it."),
        "{last}"
    );
    let folded = out.lines().rev().nth(1).unwrap();
    assert!(
        folded.starts_with("**Folded to fit 8,000 bytes:** "),
        "{folded}"
    );
}

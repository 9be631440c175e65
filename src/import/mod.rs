//! `moat import`: a blueprint for the accounts found in subscriptions / resource groups.
//!
//! Read-only, like audit: discovery is [`crate::audit::discover`], every request goes through
//! [`ReadOnly`], and the account-level reads are the observer's (the same reads, limiter and
//! cache as `moat plan`). What the observer does not read for a baseline instance (the private
//! endpoint chain, diagnostic settings, the CMK vault) is read here, GETs only.
//!
//! Each instance uses the strict baseline as profile. `existing:` is filled from what is
//! observed; a control whose infrastructure is not observed (no private endpoint, no workspace)
//! is dropped (`~`) with a comment saying what to add. With `as_is`, every control the account
//! violates today is written with its live value and an exception with a placeholder reason
//! (`TODO(import): …`), so the first plan shows no change. Nothing secret is read or written:
//! no key is listed (POST is refused), and only ids and the properties named here are copied.

pub mod emit;
mod facts;
mod instance;
mod options;

use std::sync::Arc;

use crate::arm::ArmApi;
use crate::audit::discover::{self, Discovered, Scope};
use crate::audit::read_only::ReadOnly;
use crate::audit::run::{baseline_instance, strict_template, AuditError};
use crate::blueprint::resolved::Blueprint;

use emit::{MapBuilder, Y};
pub use facts::{Endpoint, Facts, Outside, Role};
use instance::instance;
pub use options::{Options, PLACEHOLDER};

/// What the written blueprint imports (relative to it).
pub const BASELINE_FILE: &str = "strict-baseline.yaml";
/// The built-in strict baseline, written next to the blueprint when none is there.
pub const STRICT_BASELINE: &str = include_str!("../../blueprints/strict-baseline.yaml");

/// What an import produced.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The blueprint's text.
    pub text: String,
    /// One per account, in ARM id order.
    pub facts: Vec<Facts>,
    /// Soft-deleted accounts of the scopes (not imported; listed in the header).
    pub deleted: Vec<Discovered>,
}

/// Import the accounts of `scopes`. `progress(done, total)` is called as accounts are read.
pub async fn import(
    api: Arc<dyn ArmApi>,
    scopes: &[Scope],
    opts: &Options,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Imported, AuditError> {
    let api = ReadOnly(api);
    let accounts = discover::discover(&api, scopes).await?;
    let deleted = discover::discover_deleted(&api, scopes).await?;
    let template = strict_template()?;
    let mut probes = Blueprint {
        source: "import".into(),
        digest: String::new(),
        instances: Vec::new(),
        acknowledged: Vec::new(),
    };
    for d in &accounts {
        let mut i = baseline_instance(&template, d, false);
        i.name = d.id.clone();
        probes.instances.push(i);
    }
    let observed = crate::observe::observe(&api, &probes).await?;
    let names = instance_names(&accounts);
    let rai_name = template
        .controls
        .rai_policy
        .as_ref()
        .map(|p| p.spec.name.clone())
        .unwrap_or_default();
    let mut facts = facts::gather(&api, &probes, &observed, &names, &rai_name, progress).await?;
    outside_findings(&api, &probes, &observed, &mut facts).await?;
    let text = blueprint_text(&facts, &deleted, opts);
    Ok(Imported {
        text,
        facts,
        deleted,
    })
}

/// The audit's observed-state findings on the probes (what no blueprint changes: inherited
/// roles, roles that list keys, users holding data roles, connections not approved), each on
/// the facts of its account. Same reads as `moat audit`, through the same read-only client.
async fn outside_findings(
    api: &ReadOnly,
    probes: &Blueprint,
    observed: &crate::observe::Observed,
    facts: &mut [Facts],
) -> Result<(), AuditError> {
    let plan = crate::plan::plan(probes, observed);
    let mut cache = crate::audit::cache::Cache::default();
    let found =
        crate::audit::observed_rules::findings(api, probes, observed, &plan, &mut cache).await?;
    for f in found {
        let Some(facts) = facts
            .iter_mut()
            .find(|x| x.account.id.eq_ignore_ascii_case(&f.instance))
        else {
            continue;
        };
        let observed = f
            .evidence
            .first()
            .and_then(|e| e.observed.as_ref())
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .unwrap_or_default();
        facts.outside.push(Outside {
            rule: f.rule.id,
            title: f.rule.title,
            remediation: f.rule.remediation,
            resource_id: f.resource_id,
            observed,
        });
    }
    Ok(())
}

/// Instance names: the account name, or `<resourceGroup>-<account>` for every account whose
/// name is taken in more than one resource group (then `-2`, `-3`… in ARM id order if that
/// still collides). Valid moat names: 2-64 of `[A-Za-z0-9_.-]`, starting alphanumeric.
pub fn instance_names(accounts: &[Discovered]) -> Vec<String> {
    let lower = |s: &str| s.to_ascii_lowercase();
    let mut out: Vec<String> = Vec::new();
    for d in accounts {
        let shared = accounts
            .iter()
            .filter(|o| lower(&o.name) == lower(&d.name))
            .count()
            > 1;
        let base = if shared {
            moat_name(&format!("{}-{}", d.resource_group, d.name))
        } else {
            moat_name(&d.name)
        };
        let mut name = base.clone();
        let mut n = 2;
        while out.iter().any(|o| lower(o) == lower(&name)) {
            let suffix = format!("-{n}");
            let keep = 64usize.saturating_sub(suffix.len()).min(base.len());
            name = format!("{}{suffix}", &base[..keep]);
            n += 1;
        }
        out.push(name);
    }
    out
}

fn moat_name(s: &str) -> String {
    let mut n: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    while n.starts_with(|c: char| !c.is_ascii_alphanumeric()) {
        n.remove(0);
    }
    n.truncate(64);
    if n.len() < 2 {
        n = format!("account-{n}");
    }
    n
}

fn header(facts: &[Facts], deleted: &[Discovered], opts: &Options) -> Vec<String> {
    let mut h = vec![
        format!(
            "Written by `moat import`{}: {} account(s), each with the strict baseline as profile.",
            if opts.as_is { " --as-is" } else { "" },
            facts.len()
        ),
        "Every value says in a comment where it came from (the ARM id and property path).".into(),
    ];
    if opts.as_is {
        h.push(format!(
            "Each `{PLACEHOLDER}` exception keeps a weakness the account has today, so the first"
        ));
        h.push("plan shows no change. Replace each reason with a real one, or delete the".into());
        h.push(
            "exception and the weaker value above it to harden that control (docs/import.md)."
                .into(),
        );
    } else {
        h.push("`moat plan` of this file shows the hardening changes each account needs.".into());
    }
    for d in deleted {
        h.push(format!(
            "Not imported: {} is soft-deleted ({}); purge or recover it outside moat.",
            d.name, d.id
        ));
    }
    h
}

/// One `acknowledged:` entry per observed-state finding of the accounts, then one per
/// soft-deleted account (`MOAT-DP-002`), each with a placeholder reason and where it was seen.
fn acknowledged(facts: &[Facts], deleted: &[Discovered]) -> Vec<Y> {
    let entry = |rule: &str, resource: &str, notes: Vec<String>| {
        let mut a = MapBuilder::new();
        a.put_noted("rule", Y::str(rule), &notes);
        a.put("resource", Y::str(resource));
        a.put(
            "reason",
            Y::str(format!(
                "{PLACEHOLDER} found by import; fix it outside moat and delete this entry, or write why it stays"
            )),
        );
        a.build()
    };
    let mut out: Vec<Y> = Vec::new();
    for f in facts {
        for o in &f.outside {
            out.push(entry(
                o.rule,
                &o.resource_id,
                vec![
                    format!("{}: {}: {}.", f.name, o.title, o.observed),
                    format!("Fix: {}.", o.remediation),
                ],
            ));
        }
    }
    let rule = crate::audit::rules::rule("MOAT-DP-002").expect("the soft-delete rule exists");
    for d in deleted {
        out.push(entry(
            rule.id,
            &d.id,
            vec![
                format!(
                    "{}: {} (soft-deleted in {}).",
                    d.name, rule.title, d.location
                ),
                format!("Fix: {}.", rule.remediation),
            ],
        ));
    }
    out
}

/// The blueprint for `facts`.
pub fn blueprint_text(facts: &[Facts], deleted: &[Discovered], opts: &Options) -> String {
    let mut top = MapBuilder::new();
    top.put("version", Y::str("1"));
    let (baseline, note) = match &opts.baseline {
        Some(b) => (b.as_str(), "The baseline given to `moat import --baseline`: its `strict` and `strict-cmk` profiles."),
        None => (BASELINE_FILE, "moat's strict baseline (blueprints/strict-baseline.yaml); `moat import` writes it next to this file when none is there."),
    };
    top.put_noted("imports", Y::Seq(vec![Y::str(baseline)]), &[note.into()]);
    top.put(
        "instances",
        Y::Seq(facts.iter().map(|f| instance(f, opts)).collect()),
    );
    let acks = acknowledged(facts, deleted);
    if !acks.is_empty() {
        top.put_noted(
            "acknowledged",
            Y::Seq(acks),
            &[
                "What audit finds that no blueprint field changes, one entry per finding: audit shows".into(),
                format!("each waived, with its `{PLACEHOLDER}` reason, until you fix it outside moat and delete"),
                "the entry, or write the real reason it stays (docs/audit.md#acknowledged-findings).".into(),
            ],
        );
    }
    emit::document(&header(facts, deleted, opts), &top.build()).replacen(
        "version: \"1\"",
        "version: 1",
        1,
    )
}

/// `path` relative to the directory `from` (both as given or absolute; `..` where they part),
/// with `/` separators as the blueprint's `imports:` wants them.
pub fn relative_to(from: &std::path::Path, path: &std::path::Path) -> String {
    use std::path::Component;
    let abs = |p: &std::path::Path| {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut out: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
                _ => {}
            }
        }
        out
    };
    let (f, t) = (abs(from), abs(path));
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); f.len() - common];
    parts.extend(t[common..].iter().cloned());
    parts.join("/")
}

/// The file name the blueprint's `imports:` names, next to `out`.
pub fn baseline_beside(out: &std::path::Path) -> std::path::PathBuf {
    out.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| BASELINE_FILE.into(), |p| p.join(BASELINE_FILE))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::relative_to;

    #[test]
    fn the_baseline_is_named_relative_to_the_written_file() {
        let rel = |from: &str, to: &str| relative_to(Path::new(from), Path::new(to));
        assert_eq!(
            rel("examples", "blueprints/strict-baseline.yaml"),
            "../blueprints/strict-baseline.yaml"
        );
        assert_eq!(rel(".", "base.yaml"), "base.yaml");
        assert_eq!(rel("a/b", "a/c/x.yaml"), "../c/x.yaml");
        assert_eq!(rel("a", "a/./b/../x.yaml"), "x.yaml");
        assert_eq!(rel("/x/y", "/z.yaml"), "../../z.yaml");
    }
}

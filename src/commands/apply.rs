//! `moat apply`: plan (or load a saved plan and prove it is not stale), confirm, execute, then
//! re-observe and re-plan to prove convergence.

use crate::apply::{self, ApplyOptions};
use crate::cli::ApplyArgs;
use crate::model::Plan;
use crate::render;
use crate::sanitize::{clean, clean_output};

use super::{load_blueprint, select, MoatError, Output};

/// A saved plan is the reviewer's approval of one change set, not a program: apply plans afresh
/// from the blueprint and live state, and applies the fresh plan only when every one of its
/// changes is the approved one — same action, same fields before and after, same write (method,
/// target, body, preconditions and directives). Nothing from the plan file is sent to ARM, so a
/// plan edited and re-digested (the digest is a checksum, not a signature) cannot make apply do
/// anything the reviewer did not see.
pub fn approval_differences(saved: &Plan, fresh: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for f in fresh.changes() {
        let Some(s) = saved.changes().find(|s| s.address == f.address) else {
            continue;
        };
        let mut what = Vec::new();
        if s.action != f.action {
            what.push(format!(
                "action {:?} approved, {:?} now",
                s.action, f.action
            ));
        }
        if s.id != f.id {
            what.push(format!("target {} approved, {} now", s.id, f.id));
        }
        if s.fields != f.fields {
            what.push("its fields (before / after) differ from the approved ones".to_string());
        }
        if s.write != f.write {
            let target = |c: &crate::model::Change| {
                c.write
                    .as_ref()
                    .map(|w| format!("{} {}", w.method.as_str(), w.path))
                    .unwrap_or_else(|| "no write".into())
            };
            what.push(format!(
                "the write differs from the approved one (approved: {}; now: {})",
                target(s),
                target(f)
            ));
        }
        if !what.is_empty() {
            out.push(format!("  {}: {}", f.address, what.join("; ")));
        }
    }
    out
}

/// Compare a saved plan with a fresh one made from live state now: every resource must have the
/// fingerprint (etag or digest) it had at planning time.
pub fn stale_differences(saved: &Plan, fresh: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for s in saved.changes() {
        match fresh.changes().find(|f| f.address == s.address) {
            None => out.push(format!("  {}: no longer part of the plan", s.address)),
            Some(f) if f.observed != s.observed => out.push(format!(
                "  {}: was {} at planning time, is {} now",
                s.address, s.observed, f.observed
            )),
            Some(_) => {}
        }
    }
    for f in fresh.changes().filter(|f| f.action.is_write()) {
        if !saved.changes().any(|s| s.address == f.address) {
            out.push(format!("  {}: new change not in the saved plan", f.address));
        }
    }
    out
}

/// The largest saved plan `apply --plan` reads: 64 MiB (one brownfield instance renders about
/// 50 KiB of JSON, so a fleet of 1,200 fits).
pub const MAX_SAVED_PLAN_BYTES: u64 = 64 * 1024 * 1024;

pub async fn run(args: ApplyArgs, out: Output) -> Result<i32, MoatError> {
    let saved = match &args.plan {
        Some(path) => {
            // Untrusted input: a regular file of bounded size (never a device or a FIFO).
            let text = crate::blueprint::read_bounded(path, MAX_SAVED_PLAN_BYTES).map_err(|e| {
                MoatError::Refused(format!(
                    "cannot read the saved plan {}: {e}",
                    path.display()
                ))
            })?;
            Some(render::json::load(&path.display().to_string(), &text)?)
        }
        None => None,
    };
    let bp_path = match (&args.file, &saved) {
        (Some(f), _) => f.clone(),
        (None, Some(p)) => p.blueprint.path.clone().into(),
        (None, None) => return Err(MoatError::Usage("apply needs a blueprint or --plan".into())),
    };
    let bp = load_blueprint(&bp_path)?;
    if let Some(s) = &saved {
        if s.blueprint.digest != bp.digest {
            return Err(MoatError::Refused(format!(
                "{} changed since the plan was made (digest {} then, {} now): plan again",
                bp_path.display(),
                s.blueprint.digest,
                bp.digest
            )));
        }
    }
    let bp = select(bp, &args.select)?;
    let conn = super::connect::connect(&args.connect, out).await?;
    let result = apply_with(&conn, &bp, saved, &args, out).await;
    conn.finish().await;
    result
}

async fn apply_with(
    conn: &super::Connection,
    bp: &crate::blueprint::resolved::Blueprint,
    saved: Option<Plan>,
    args: &ApplyArgs,
    out: Output,
) -> Result<i32, MoatError> {
    let api = conn.api.clone();
    let observed = crate::observe::observe(api.as_ref(), bp).await?;
    let fresh = crate::plan::plan(bp, &observed);
    let plan = match saved {
        Some(mut s) => {
            s.instances
                .retain(|i| bp.instances.iter().any(|b| b.name == i.name));
            let diffs = stale_differences(&s, &fresh);
            if !diffs.is_empty() {
                return Err(MoatError::StalePlan(diffs.join("\n")));
            }
            let diffs = approval_differences(&s, &fresh);
            if !diffs.is_empty() {
                return Err(MoatError::Refused(format!(
                    "the saved plan is not what moat would do now, so it approves nothing: plan again and review the new plan\n{}",
                    diffs.join("\n")
                )));
            }
            // The fresh plan, which equals the approved one: nothing from the file is sent.
            fresh
        }
        None => fresh,
    };
    print!("{}", render::text::render(&plan, out.color));
    // A blocked change or verify-only drift holds back its own instance (and what depends on
    // it), not the fleet; apply still exits 1 so the pipeline knows.
    let held: Vec<(String, String)> = plan
        .instances
        .iter()
        .filter_map(|i| i.held_back().map(|why| (i.name.clone(), why)))
        .collect();
    let others_write = plan
        .instances
        .iter()
        .any(|i| !i.is_failed() && i.changes.iter().any(|c| c.action.is_write()));
    if !held.is_empty() && !others_write {
        return Err(MoatError::Refused(
            "the plan has blocked changes or drift on verify-only controls (see above), and no other instance has changes to apply".into(),
        ));
    }
    for (_, why) in &held {
        eprintln!("warning: {why}; the other instances are applied, and apply exits 1");
    }
    if !plan.has_changes() {
        return Ok(0);
    }
    match super::approve(args.auto_approve, out, "Apply these changes?", "plan") {
        Err(refusal) => return Err(MoatError::Refused(refusal)),
        Ok(false) => {
            eprintln!("Apply cancelled; nothing was changed.");
            return Ok(1);
        }
        Ok(true) => {}
    }
    let cancel = super::interrupt_flag("writes");
    let prog = super::progress_for(out);
    let opts = ApplyOptions {
        // `--parallelism` bounds ARM requests in flight (in the client); steps mostly wait for
        // long-running operations, so more of them may be under way than requests.
        parallelism: args.connect.parallelism.max(apply::STEPS_IN_FLIGHT),
        gates: conn.gate_options,
    };
    let report = apply::execute(api.clone(), &plan, opts, prog, cancel.clone()).await;
    println!();
    println!(
        "Applied {} change(s), {} failed, {} skipped{}.",
        report.applied.len(),
        report.failed.len(),
        report.skipped.len(),
        if report.not_started.is_empty() {
            String::new()
        } else {
            format!(", {} not started", report.not_started.len())
        }
    );
    let stats = api.stats();
    if stats.retries > 0 || stats.throttled > 0 {
        println!(
            "ARM made moat wait: {} request(s) retried (throttling, conflicts, principals replicating), {} paced by the request budget; `-v` shows each one.",
            stats.retries, stats.throttled
        );
    }
    for (a, e) in &report.failed {
        println!("  failed  {}\n{}", clean(a), indent(&clean_output(e), 10));
    }
    for (a, why) in &report.skipped {
        println!("  skipped {}: {}", clean(a), clean(why));
    }
    for a in &report.not_started {
        println!("  not started {}", clean(a));
    }
    if report.interrupted {
        println!("Interrupted. Run apply again to converge.");
        return Ok(130);
    }
    let held_only = report.failed.is_empty()
        && report.not_started.is_empty()
        && !held.is_empty()
        && report.skipped.iter().all(|(a, _)| {
            plan_instance_of(&plan, a).is_some_and(|i| held.iter().any(|(h, _)| *h == i))
        });
    if !report.ok() && !held_only {
        println!("Apply did not finish. Run apply again once the cause is fixed: it converges from any state.");
        return Ok(1);
    }
    // Prove convergence: read everything again and plan (the instances held back excepted).
    let after = crate::observe::observe(api.as_ref(), bp).await?;
    let mut replan = crate::plan::plan(bp, &after);
    replan
        .instances
        .retain(|i| !held.iter().any(|(h, _)| *h == i.name));
    if replan.has_changes() || replan.is_failed() {
        println!("Apply did not converge: live state still differs from the blueprint:");
        print!("{}", render::text::render(&replan, out.color));
        return Ok(1);
    }
    if !held.is_empty() {
        let names: Vec<&str> = held.iter().map(|(n, _)| n.as_str()).collect();
        println!(
            "Apply complete for the other instances; held back: {} (see the blocked changes and drift above, fix them and apply again).",
            clean(&names.join(", "))
        );
        return Ok(1);
    }
    println!("Apply complete: live state matches the blueprint.");
    Ok(0)
}

/// The instance a change address belongs to.
fn plan_instance_of<'a>(plan: &'a Plan, address: &str) -> Option<&'a str> {
    plan.instances
        .iter()
        .find(|i| i.changes.iter().any(|c| c.address == address))
        .map(|i| i.name.as_str())
}

fn indent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    s.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, BlueprintRef, Change, InstancePlan};

    fn change(address: &str, action: Action, observed: &str) -> Change {
        Change::new(
            address,
            crate::model::KindId::new("test"),
            "/a",
            action,
            "test",
            observed.into(),
        )
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            format_version: 1,
            moat_version: "test".into(),
            blueprint: BlueprintRef {
                path: "b.yaml".into(),
                digest: "d".into(),
            },
            instances: vec![InstancePlan {
                name: "i".into(),
                subscription: "s".into(),
                account_id: "/a".into(),
                changes,
                notes: vec![],
                exceptions: vec![],
            }],
        }
    }

    #[test]
    fn stale_differences_name_each_changed_missing_and_new_change() {
        let saved = plan(vec![
            change("i/a/1", Action::Update, "etag-1"),
            change("i/b/2", Action::Update, "etag-2"),
            change("i/c/3", Action::Create, "absent"),
            change("i/d/4", Action::NoOp, "digest-1"),
        ]);
        assert!(stale_differences(&saved, &saved).is_empty());
        let fresh = plan(vec![
            change("i/a/1", Action::Update, "etag-1"),
            change("i/b/2", Action::Update, "etag-3"),
            change("i/d/4", Action::NoOp, "digest-1"),
            change("i/e/5", Action::Create, "absent"),
            change("i/f/6", Action::NoOp, "digest-9"),
        ]);
        let d = stale_differences(&saved, &fresh);
        assert_eq!(
            d,
            [
                "  i/b/2: was etag-2 at planning time, is etag-3 now",
                "  i/c/3: no longer part of the plan",
                "  i/e/5: new change not in the saved plan",
            ]
        );
    }
}

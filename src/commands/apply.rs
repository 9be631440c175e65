//! `moat apply`: plan (or load a saved plan and prove it is not stale), confirm, execute, then
//! re-observe and re-plan to prove convergence.

use std::sync::Arc;

use crate::apply::events::{JsonLines, Outcome, Summary};
use crate::apply::{self, ApplyOptions};
use crate::cli::{ApplyArgs, ApplyFormat};
use crate::model::Plan;
use crate::render;
use crate::sanitize::{clean, clean_output};

use super::{load_blueprint, select, MoatError, Output};

/// Where the human report goes: stdout, or stderr when stdout carries the JSON events.
#[derive(Clone, Copy)]
struct Human {
    to_stderr: bool,
    color: bool,
}

impl Human {
    fn print(self, s: &str) {
        if self.to_stderr {
            eprint!("{s}");
        } else {
            super::output::print_stdout(s);
        }
    }

    fn line(self, s: &str) {
        self.print(&format!("{s}\n"));
    }
}

pub async fn run(args: ApplyArgs, out: Output) -> Result<i32, MoatError> {
    let start = std::time::Instant::now();
    let events = (args.format == ApplyFormat::Json).then(|| Arc::new(JsonLines::stdout(start)));
    let mut summary = Summary::new(Outcome::Error);
    let result = apply_from_args(&args, out, events.clone(), &mut summary).await;
    if let Some(events) = &events {
        match &result {
            Ok(code) => events.summary(&summary, *code),
            Err(e) => {
                summary.outcome = Outcome::Error;
                summary.message = Some(crate::report::render_error(e));
                events.summary(&summary, 1);
            }
        }
    }
    result
}

async fn apply_from_args(
    args: &ApplyArgs,
    out: Output,
    events: Option<Arc<JsonLines>>,
    summary: &mut Summary,
) -> Result<i32, MoatError> {
    let saved = match &args.plan {
        Some(path) => Some(super::saved::read(path)?),
        None => None,
    };
    let bp_path = match (&args.file, &saved, &args.plan) {
        (Some(f), _, _) => f.clone(),
        (None, Some(p), Some(file)) => super::saved::blueprint_path(file, p),
        _ => return Err(MoatError::Usage("apply needs a blueprint or --plan".into())),
    };
    let bp = load_blueprint(&bp_path)?;
    if let Some(s) = &saved {
        if s.blueprint.digest != bp.digest {
            return Err(MoatError::BlueprintChanged(format!(
                "{} changed since the plan was made (digest {} then, {} now)",
                bp_path.display(),
                clean(&s.blueprint.digest),
                bp.digest
            )));
        }
    }
    let bp = select(bp, &args.select)?;
    let conn = super::connect::connect(&args.connect, out).await?;
    let result = apply_with(&conn, &bp, saved, args, out, events, summary).await;
    conn.finish().await;
    result
}

async fn apply_with(
    conn: &super::Connection,
    bp: &crate::blueprint::resolved::Blueprint,
    saved: Option<Plan>,
    args: &ApplyArgs,
    out: Output,
    events: Option<Arc<JsonLines>>,
    summary: &mut Summary,
) -> Result<i32, MoatError> {
    let human = Human {
        to_stderr: events.is_some(),
        color: out.color && events.is_none(),
    };
    let api = conn.api.clone();
    let observed = crate::observe::observe(api.as_ref(), bp).await?;
    let fresh = crate::plan::plan(bp, &observed);
    let plan = match saved {
        Some(mut s) => {
            s.instances
                .retain(|i| bp.instances.iter().any(|b| b.name == i.name));
            let diffs = super::saved::stale_differences(&s, &fresh);
            if !diffs.is_empty() {
                return Err(MoatError::StalePlan(diffs.join("\n")));
            }
            let diffs = super::saved::approval_differences(&s, &fresh);
            if !diffs.is_empty() {
                return Err(MoatError::NotApproved(diffs.join("\n")));
            }
            // The fresh plan, which equals the approved one: nothing from the file is sent.
            fresh
        }
        None => fresh,
    };
    human.print(&render::text::render(&plan, human.color));
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
    summary.held_back = held.iter().map(|(h, _)| h.clone()).collect();
    if !plan.has_changes() {
        summary.outcome = Outcome::NoChanges;
        return Ok(0);
    }
    match super::approve(args.auto_approve, out, "Apply these changes?", "plan") {
        Err(refusal) => return Err(MoatError::Refused(refusal)),
        Ok(false) => {
            eprintln!("Apply cancelled; nothing was changed.");
            summary.outcome = Outcome::Cancelled;
            return Ok(1);
        }
        Ok(true) => {}
    }
    let cancel = super::interrupt_flag("writes");
    // The JSON events replace the progress on stderr: one stream of events, not two.
    let prog: Arc<dyn apply::Progress> = match &events {
        Some(e) => {
            e.know(&plan);
            e.clone()
        }
        None => super::progress_for(out),
    };
    let opts = ApplyOptions {
        // `--parallelism` bounds ARM requests in flight (in the client); steps mostly wait for
        // long-running operations, so more of them may be under way than requests.
        parallelism: args.connect.parallelism.max(apply::STEPS_IN_FLIGHT),
        gates: conn.gate_options,
    };
    let report = apply::execute(api.clone(), &plan, opts, prog, cancel.clone()).await;
    summary.count(&report);
    human.line("");
    human.line(&format!(
        "Applied {} change(s), {} failed, {} skipped{}.",
        report.applied.len(),
        report.failed.len(),
        report.skipped.len(),
        if report.not_started.is_empty() {
            String::new()
        } else {
            format!(", {} not started", report.not_started.len())
        }
    ));
    let stats = api.stats();
    if stats.retries > 0 || stats.throttled > 0 {
        human.line(&format!(
            "ARM made moat wait: {} request(s) retried (throttling, conflicts, principals replicating), {} paced by the request budget; `-v` shows each one.",
            stats.retries, stats.throttled
        ));
    }
    for (a, e) in &report.failed {
        human.line(&format!(
            "  failed  {}\n{}",
            clean(a),
            indent(&clean_output(e), 10)
        ));
    }
    for (a, why) in &report.skipped {
        human.line(&format!("  skipped {}: {}", clean(a), clean(why)));
    }
    for a in &report.not_started {
        human.line(&format!("  not started {}", clean(a)));
    }
    if report.interrupted {
        human.line("Interrupted. Run apply again to converge.");
        summary.outcome = Outcome::Interrupted;
        return Ok(130);
    }
    let held_only = report.failed.is_empty()
        && report.not_started.is_empty()
        && !held.is_empty()
        && report.skipped.iter().all(|(a, _)| {
            plan_instance_of(&plan, a).is_some_and(|i| held.iter().any(|(h, _)| *h == i))
        });
    if !report.ok() && !held_only {
        human.line("Apply did not finish. Run apply again once the cause is fixed: it converges from any state.");
        summary.outcome = Outcome::Incomplete;
        return Ok(1);
    }
    // Prove convergence: read everything again and plan (the instances held back excepted).
    let after = crate::observe::observe(api.as_ref(), bp).await?;
    let mut replan = crate::plan::plan(bp, &after);
    replan
        .instances
        .retain(|i| !held.iter().any(|(h, _)| *h == i.name));
    if replan.has_changes() || replan.is_failed() {
        human.line("Apply did not converge: live state still differs from the blueprint:");
        human.print(&render::text::render(&replan, human.color));
        summary.outcome = Outcome::NotConverged;
        return Ok(1);
    }
    if !held.is_empty() {
        let names: Vec<&str> = held.iter().map(|(n, _)| n.as_str()).collect();
        human.line(&format!(
            "Apply complete for the other instances; held back: {} (see the blocked changes and drift above, fix them and apply again).",
            clean(&names.join(", "))
        ));
        summary.outcome = Outcome::HeldBack;
        return Ok(1);
    }
    human.line("Apply complete: live state matches the blueprint.");
    summary.outcome = Outcome::Converged;
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

//! `moat destroy FILE --instance NAME...`: the only way moat deletes an instance.
//!
//! The plan is `plan::destroy` (pure: what may be deleted, and in which order, is decided
//! there and by the kinds); this is the I/O around it: observe, show, confirm, execute, and
//! prove by planning again that nothing is left.

use crate::apply::{self, ApplyOptions};
use crate::blueprint::resolved::Blueprint;
use crate::cli::DestroyArgs;
use crate::plan::destroy::plan;
use crate::render;
use crate::sanitize::{clean, clean_output};

use super::{load_blueprint, MoatError, Output};

pub async fn run(args: DestroyArgs, out: Output) -> Result<i32, MoatError> {
    let bp = load_blueprint(&args.file)?;
    for n in &args.instances {
        if !bp.instances.iter().any(|i| &i.name == n) {
            let known: Vec<&str> = bp.instances.iter().map(|i| i.name.as_str()).collect();
            return Err(MoatError::Usage(format!(
                "--instance {n}: no such instance in {} (it has: {})",
                bp.source.display(),
                known.join(", ")
            )));
        }
    }
    let mut selected = bp.clone();
    selected
        .instances
        .retain(|i| args.instances.contains(&i.name));
    let conn = super::connect::connect(&args.connect, out).await?;
    let result = destroy_with(&conn, &bp, &selected, &args, out).await;
    conn.finish().await;
    result
}

async fn destroy_with(
    conn: &super::Connection,
    bp: &Blueprint,
    selected: &Blueprint,
    args: &DestroyArgs,
    out: Output,
) -> Result<i32, MoatError> {
    let api = conn.api.clone();
    let observed = crate::observe::observe(api.as_ref(), selected).await?;
    let plan = plan(bp, &args.instances, &observed);
    super::output::print_stdout(&render::text::render(&plan, out.color));
    if plan.is_failed() {
        return Err(MoatError::DestroyRefused(
            "see the blocked instance(s) above; nothing was deleted".into(),
        ));
    }
    if !plan.has_changes() {
        return Ok(0);
    }
    let question = format!(
        "Destroy {}? This deletes the account(s) above.",
        args.instances.join(", ")
    );
    match super::approve(args.auto_approve, out, &question, "destroy plan") {
        Err(refusal) => return Err(MoatError::DestroyRefused(refusal)),
        Ok(false) => {
            eprintln!("Destroy cancelled; nothing was deleted.");
            return Ok(1);
        }
        Ok(true) => {}
    }
    let cancel = super::interrupt_flag("deletes");
    let prog = super::progress_for(out);
    let opts = ApplyOptions {
        parallelism: args.connect.parallelism,
        gates: conn.gate_options,
    };
    let report = apply::execute(api.clone(), &plan, opts, prog, cancel).await;
    println!();
    println!(
        "Deleted {} resource(s), {} failed, {} skipped.",
        report.applied.len(),
        report.failed.len(),
        report.skipped.len()
    );
    for (a, e) in &report.failed {
        println!("  failed  {}\n{}", clean(a), clean_output(e));
    }
    for (a, why) in &report.skipped {
        println!("  skipped {}: {}", clean(a), clean(why));
    }
    if !report.ok() {
        println!("Destroy did not finish. Run it again once the cause is fixed: it picks up where it stopped.");
        return Ok(if report.interrupted { 130 } else { 1 });
    }
    // Prove it: planned again from live state, nothing is left to delete.
    let after = crate::observe::observe(api.as_ref(), selected).await?;
    let again = crate::plan::destroy::plan(bp, &args.instances, &after);
    let left: Vec<&str> = again
        .instances
        .iter()
        .filter(|i| i.changes.iter().any(|c| c.action.is_write()))
        .map(|i| i.name.as_str())
        .collect();
    if !left.is_empty() {
        println!(
            "Destroy did not finish: still present: {}",
            clean(&left.join(", "))
        );
        return Ok(1);
    }
    println!(
        "Destroyed {}. ARM keeps a deleted account soft-deleted for 48 hours: `softDelete: restore` brings it back, `softDelete: purge` frees the name.",
        clean(&args.instances.join(", "))
    );
    Ok(0)
}

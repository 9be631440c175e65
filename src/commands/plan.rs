//! `moat plan`.

use crate::cli::PlanArgs;
use crate::render::{self, Format};

use super::{load_blueprint, select, MoatError, Output};

pub async fn run(args: PlanArgs, out: Output) -> Result<i32, MoatError> {
    let bp = select(load_blueprint(&args.file)?, &args.select)?;
    let conn = super::connect::connect(&args.connect, out).await?;
    let observed = crate::observe::observe(conn.api.as_ref(), &bp).await?;
    let plan = crate::plan::plan(&bp, &observed);
    conn.finish().await;
    if let Some(path) = &args.out {
        // The saved copy finds its blueprint from wherever it is applied.
        let mut saved = plan.clone();
        saved.blueprint.path_from_plan = super::saved::path_from_plan(path, &args.file);
        std::fs::write(path, render::json::render(&saved)).map_err(|source| MoatError::Io {
            what: "could not write the plan to",
            path: path.display().to_string(),
            source,
        })?;
    }
    let color = out.color && args.format == Format::Text;
    print!("{}", render::render(&plan, args.format, color));
    if let Some(path) = &args.out {
        eprintln!("{}", saved_message(&plan, path));
    }
    Ok(if plan.is_failed() {
        1
    } else if plan.has_changes() && args.detailed_exitcode {
        2
    } else {
        0
    })
}

/// What `plan --out` says after saving: how to apply the plan only when there is something
/// apply would do with it.
fn saved_message(plan: &crate::model::Plan, path: &std::path::Path) -> String {
    let p = path.display();
    if plan.is_failed() {
        format!(
            "Saved the plan to {p}, but it failed (blocked changes, drift on verify-only controls or expired exceptions, above): fix the blueprint or the live state and plan again before applying."
        )
    } else if !plan.has_changes() {
        format!("Saved the plan to {p}; it has no changes, so there is nothing to apply.")
    } else {
        format!("Saved the plan to {p}; apply it with `moat apply --plan {p}`.")
    }
}

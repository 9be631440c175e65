//! `moat plan`.

use crate::cli::PlanArgs;
use crate::render::{self, Format};

use super::{load_blueprint, select, MoatError, Output};

pub async fn run(args: PlanArgs, out: Output) -> Result<i32, MoatError> {
    let bp = select(load_blueprint(&args.file)?, &args.select)?;
    let conn = super::connect::connect(&args.connect, out).await?;
    let mut observed = crate::observe::observe(conn.api.as_ref(), &bp).await?;
    // Key rotation due (shown, never done): only instances with `keyRotation` are read.
    let vault =
        super::rotate::VaultSettings::new(&conn, args.vault_endpoint.as_deref(), &args.connect);
    crate::rotate::due::observe(conn.api.as_ref(), &bp, &vault.options(), &mut observed).await;
    let plan = crate::plan::plan(&bp, &observed);
    log_decisions(&observed, &plan);
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
    let saved = args.out.as_ref().map(|p| p.display().to_string());
    let md = super::output::markdown_options(&args.markdown, saved);
    super::output::print_stdout(&render::render_with(&plan, args.format, color, &md));
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

/// `-v`: what plan read and decided, per instance (every change, no-ops at `-vv`). Addresses and
/// reasons are moat's own; the log writer escapes anything else.
pub(crate) fn log_decisions(
    observed: &crate::model::observed::Observed,
    plan: &crate::model::Plan,
) {
    for inst in &observed.instances {
        let (mut found, mut absent) = (0usize, 0usize);
        for (_, value) in inst.reads.iter() {
            if value.is_some() {
                found += 1
            } else {
                absent += 1
            }
        }
        tracing::info!(
            "{}: read {} resources and lists from ARM ({found} found, {absent} absent)",
            inst.name,
            found + absent
        );
    }
    for inst in &plan.instances {
        for c in &inst.changes {
            let action = serde_json::to_value(c.action)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            if c.action.is_write() || c.blocked.is_some() || !c.fields.is_empty() {
                tracing::info!("{}: {action}: {}", c.address, c.reason);
            } else {
                tracing::debug!("{}: {action}: {}", c.address, c.reason);
            }
        }
        let count = |a: crate::model::Action| inst.changes.iter().filter(|c| c.action == a).count();
        use crate::model::Action::*;
        tracing::info!(
            "{}: planned {} to create, {} to update, {} to delete, {} drift, {} blocked, {} unchanged",
            inst.name,
            count(Create),
            count(Update),
            count(Delete),
            count(Drift),
            count(Blocked),
            count(NoOp) + count(Verified)
        );
    }
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

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
        eprintln!(
            "Saved the plan to {}; apply it with `moat apply --plan {}`.",
            path.display(),
            path.display()
        );
    }
    Ok(if plan.is_failed() {
        1
    } else if plan.has_changes() && args.detailed_exitcode {
        2
    } else {
        0
    })
}

//! The blueprint a command works on: loaded, validated, narrowed to the selected instances.

use std::path::Path;

use crate::blueprint::resolved::Blueprint;
use crate::cli::Selectors;

use super::error::MoatError;
use crate::sanitize::clean_output;

/// Load and validate a blueprint; diagnostics go to stderr.
pub fn load_blueprint(path: &Path) -> Result<Blueprint, MoatError> {
    // An expired exception holds back its own instance (the planner says so), not the fleet.
    let opts = crate::blueprint::Options {
        expired_exceptions_are_errors: false,
        ..Default::default()
    };
    let report = crate::blueprint::load_with(path, &opts);
    match report.blueprint {
        Some(bp) => {
            // Warnings (an exception in force, one about to expire) are shown every run.
            for d in &report.diagnostics.0 {
                eprintln!("{}", clean_output(&d.to_string()));
            }
            Ok(bp)
        }
        None => {
            eprintln!("{}", clean_output(&report.diagnostics.to_string()));
            Err(MoatError::InvalidBlueprint {
                file: path.display().to_string(),
                count: report.diagnostics.0.len(),
            })
        }
    }
}

/// Keep only the selected instances (fleet sharding).
pub fn select(mut bp: Blueprint, sel: &Selectors) -> Result<Blueprint, MoatError> {
    for name in &sel.instances {
        if !bp.instances.iter().any(|i| &i.name == name) {
            let known: Vec<&str> = bp.instances.iter().map(|i| i.name.as_str()).collect();
            return Err(MoatError::Usage(format!(
                "--instance {name}: no such instance in {} (it has: {})",
                bp.source.display(),
                known.join(", ")
            )));
        }
    }
    bp.instances.retain(|i| {
        (sel.instances.is_empty() || sel.instances.contains(&i.name))
            && (sel.subscriptions.is_empty()
                || sel
                    .subscriptions
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(&i.subscription)))
    });
    if bp.instances.is_empty() {
        return Err(MoatError::Usage(
            "the selectors match no instance of the blueprint".into(),
        ));
    }
    Ok(bp)
}

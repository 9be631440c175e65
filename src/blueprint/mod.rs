//! The blueprint: the YAML model users write, its loader and validation, and the resolved form
//! the planner consumes.
//!
//! Pipeline: `yaml` (positioned tree) → `check` against `schema` (types, unknown keys, formats,
//! secrets) → `load` (imports, profile ⊕ defaults ⊕ instance merge, required fields) →
//! `resolve` / `network` / `controls` (defaults, names, cross-field rules, baseline exceptions)
//! → `shared` (the declarations of resources several instances share, merged across the
//! blueprint) → `resolved::Blueprint`. Every finding is a [`Diagnostic`] with file, line and column.

mod check;
mod context;
mod controls;
mod diag;
pub mod formats;
mod generic;
mod json_schema;
mod load;
mod names;
mod network;
mod reference;
mod resolve;
pub mod resolved;
pub mod roles;
pub mod schema;
mod schema_alerts;
mod schema_controls;
mod shape;
mod shared;
pub mod source;
mod suggest;
pub mod yaml;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use json_schema::json_schema;
pub use load::{Options, Report};
pub use reference::markdown_reference;
pub use source::{read_bounded, ReadError, MAX_BLUEPRINT_BYTES, MAX_TOTAL_BYTES};

/// Reads, validates and resolves a blueprint file (imports relative to the file).
pub fn load(path: &Path) -> Result<resolved::Blueprint, Diagnostics> {
    into_result(load_with(path, &Options::default()))
}

/// Validates and resolves blueprint text; `name` is used in messages, imports are relative to
/// the current directory.
pub fn load_str(name: &str, text: &str) -> Result<resolved::Blueprint, Diagnostics> {
    into_result(load_str_with(name, text, &Options::default()))
}

/// Like [`load`], returning warnings too, with a fixed notion of today.
pub fn load_with(path: &Path, opts: &Options) -> Report {
    load::load_path(path, opts)
}

/// Like [`load_str`], returning warnings too, with a fixed notion of today.
pub fn load_str_with(name: &str, text: &str, opts: &Options) -> Report {
    load::load_text(name, text, Path::new(""), opts)
}

fn into_result(report: Report) -> Result<resolved::Blueprint, Diagnostics> {
    match report.blueprint {
        Some(bp) => Ok(bp),
        None => Err(report.diagnostics),
    }
}

/// `moat validate FILE...`: prints every finding of every file, then `FILE: ok` or
/// `FILE: N error(s)`; returns the exit code (0 when every file is valid, else 1).
pub fn validate_files(paths: &[PathBuf], out: &mut dyn Write) -> i32 {
    validate_files_with(paths, out, &Options::default())
}

/// [`validate_files`] with a fixed notion of today (tests).
pub fn validate_files_with(paths: &[PathBuf], out: &mut dyn Write, opts: &Options) -> i32 {
    let mut code = 0;
    for path in paths {
        let report = load_with(path, opts);
        let name = load::normalize(path).to_string_lossy().to_string();
        for d in &report.diagnostics.0 {
            let _ = writeln!(out, "{d}");
        }
        let (errors, warnings) = (report.diagnostics.errors(), report.diagnostics.warnings());
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        if errors > 0 {
            code = 1;
            let _ = writeln!(out, "{name}: {}", plural(errors, "error"));
        } else if warnings > 0 {
            let _ = writeln!(out, "{name}: ok ({})", plural(warnings, "warning"));
        } else {
            let _ = writeln!(out, "{name}: ok");
        }
    }
    code
}

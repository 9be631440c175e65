//! The blueprint: the YAML model users write, its loader and validation, and the resolved form
//! the planner consumes.
//!
//! Pipeline: `yaml` (positioned tree) → `check` against `schema` (types, unknown keys, formats,
//! secrets) → `load` (imports, profile ⊕ defaults ⊕ instance merge, required fields) →
//! `resolve` / `network` / `controls` (defaults, names, cross-field rules, baseline exceptions)
//! → `shared` (the declarations of resources several instances share, merged across the
//! blueprint) → `resolved::Blueprint`. Every finding is a [`Diagnostic`] with file, line and column.

pub mod acknowledged;
mod check;
mod context;
mod controls;
mod diag;
pub mod formats;
mod generic;
pub mod guardrails;
mod json_schema;
mod load;
mod names;
mod network;
mod period;
mod reference;
mod resolve;
pub mod resolved;
pub mod roles;
mod rotation;
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

pub use diag::{Code, Diagnostic, Diagnostics, Severity};
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

/// One file that `moat validate` checked: its name as the findings show it, and its findings
/// (errors and warnings, in position order).
#[derive(Debug, Clone)]
pub struct Validated {
    pub name: String,
    pub diagnostics: Diagnostics,
}

impl Validated {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.has_errors()
    }
}

/// Validate every file (each with its imports); the renderings draw from this.
pub fn validate(paths: &[PathBuf], opts: &Options) -> Vec<Validated> {
    paths
        .iter()
        .map(|path| Validated {
            name: load::normalize(path).to_string_lossy().to_string(),
            diagnostics: load_with(path, opts).diagnostics,
        })
        .collect()
}

/// `moat validate`'s exit code: 0 when every file is valid, else 1 (whatever the format).
pub fn exit_code(files: &[Validated]) -> i32 {
    i32::from(files.iter().any(Validated::has_errors))
}

/// `moat validate FILE...`: prints every finding of every file, then `FILE: ok` or
/// `FILE: N error(s)`; returns the exit code (0 when every file is valid, else 1).
pub fn validate_files(paths: &[PathBuf], out: &mut dyn Write) -> i32 {
    validate_files_with(paths, out, &Options::default())
}

/// [`validate_files`] with a fixed notion of today (tests).
pub fn validate_files_with(paths: &[PathBuf], out: &mut dyn Write, opts: &Options) -> i32 {
    let files = validate(paths, opts);
    let _ = out.write_all(render_text(&files).as_bytes());
    exit_code(&files)
}

/// The text rendering (the stable `FILE:LINE:COLUMN: error: MESSAGE` lines and a summary line
/// per file).
pub fn render_text(files: &[Validated]) -> String {
    let mut out = String::new();
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    for f in files {
        for d in &f.diagnostics.0 {
            out.push_str(&format!("{d}\n"));
        }
        let (errors, warnings) = (f.diagnostics.errors(), f.diagnostics.warnings());
        let name = &f.name;
        if errors > 0 {
            out.push_str(&format!("{name}: {}\n", plural(errors, "error")));
        } else if warnings > 0 {
            out.push_str(&format!("{name}: ok ({})\n", plural(warnings, "warning")));
        } else {
            out.push_str(&format!("{name}: ok\n"));
        }
    }
    out
}

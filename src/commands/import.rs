//! `moat import`: the I/O around `crate::import::import` (read-only against ARM; the logic is
//! in `src/import/`). Writes the blueprint atomically and never overwrites a file without
//! `--force`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::ImportArgs;
use crate::import;

use super::{MoatError, Output};

pub async fn run(args: ImportArgs, out: Output) -> Result<i32, MoatError> {
    let scopes = crate::audit::run::scopes_for(&args.subscriptions, &args.resource_groups, None)
        .map_err(super::audit::audit_error)?;
    if args.out.exists() && !args.force {
        return Err(MoatError::Usage(format!(
            "{} exists: moat import does not overwrite it (give --force to replace it)",
            args.out.display()
        )));
    }
    if let Some(b) = args.baseline.as_ref().filter(|b| !b.is_file()) {
        return Err(MoatError::Usage(format!(
            "--baseline {}: no such file (give the baseline blueprint the written file should import)",
            b.display()
        )));
    }
    let conn = super::connect::connect(&args.connect, out).await?;
    let live = out.stderr_is_terminal;
    let progress = move |done: usize, total: usize| {
        if live {
            eprint!("\rimport: read {done}/{total} account(s)");
            if done == total {
                eprintln!();
            }
        } else if done == total || done.is_multiple_of(50) {
            eprintln!("import: read {done}/{total} account(s)");
        }
    };
    let dir = args
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let opts = import::Options {
        as_is: args.as_is,
        baseline: args
            .baseline
            .as_deref()
            .map(|b| import::relative_to(dir, b)),
    };
    let result = import::import(conn.api.clone(), &scopes, &opts, &progress).await;
    conn.finish().await;
    let imported = result.map_err(super::audit::audit_error)?;
    let baseline = import::baseline_beside(&args.out);
    if args.baseline.is_none() && !baseline.exists() {
        write_atomic(&baseline, import::STRICT_BASELINE, false)?;
        eprintln!(
            "Wrote {} (moat's strict baseline, imported by the blueprint).",
            baseline.display()
        );
    }
    write_checked(&args.out, &imported.text, args.force)?;
    eprintln!(
        "Wrote {}: {} instance(s){}. Next: moat validate {0}; moat plan {0}",
        args.out.display(),
        imported.facts.len(),
        if args.as_is {
            ", each weakness kept under a TODO(import) exception"
        } else {
            ""
        }
    );
    Ok(0)
}

fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "blueprint".into());
    path.with_file_name(format!(".{name}.moat-import-{}.tmp", std::process::id()))
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> MoatError {
    let path = path.display().to_string();
    move |source| MoatError::Io { what, path, source }
}

/// Write `text` to a temporary file beside `path`, check it with the blueprint loader (the
/// imports resolve from there), then move it into place: rename with `force`, else a hard
/// link, which fails when `path` appeared in the meantime.
fn write_checked(path: &Path, text: &str, force: bool) -> Result<(), MoatError> {
    let tmp = tmp_path(path);
    write_file(&tmp, text)?;
    if let Err(d) = crate::blueprint::load(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(MoatError::Usage(format!(
            "moat import produced a blueprint that does not validate (nothing was written; with --baseline, does it define the `strict` and `strict-cmk` profiles?):\n{d}"
        )));
    }
    place(&tmp, path, force)
}

fn write_atomic(path: &Path, text: &str, force: bool) -> Result<(), MoatError> {
    let tmp = tmp_path(path);
    write_file(&tmp, text)?;
    place(&tmp, path, force)
}

fn write_file(tmp: &Path, text: &str) -> Result<(), MoatError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(io("cannot create", tmp))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| {
            let _ = std::fs::remove_file(tmp);
            io("cannot write", tmp)(e)
        })
}

fn place(tmp: &Path, path: &Path, force: bool) -> Result<(), MoatError> {
    let placed = if force {
        std::fs::rename(tmp, path)
    } else {
        std::fs::hard_link(tmp, path).and_then(|()| std::fs::remove_file(tmp))
    };
    placed.map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            MoatError::Usage(format!(
                "{} exists: moat import does not overwrite it (give --force to replace it)",
                path.display()
            ))
        } else {
            io("cannot write", path)(e)
        }
    })
}

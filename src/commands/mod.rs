//! Resolve CLI arguments into settings and run the pipeline:
//! blueprint → observe → plan → (render | apply).

mod apply;
mod audit;
mod connect;
pub mod destroy;
mod error;
mod import;
mod load;
mod output;
mod plan;
mod reads_progress;
mod rotate;
mod saved;
mod show;

use crate::cli::{Cli, Command};

// What the subcommands share lives in leaf files that know neither this dispatcher nor the
// subcommands; the subcommands name it through these re-exports (`super::approve`).
pub use connect::Connection;
pub use error::MoatError;
pub use load::{load_blueprint, select};
pub use output::{approve, interrupt_flag, progress_for, Output};

/// Run a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> Result<i32, MoatError> {
    let out = Output::detect(&cli);
    match cli.command {
        Command::Plan(args) => plan::run(args, out).await,
        Command::Apply(args) => apply::run(args, out).await,
        Command::Destroy(args) => destroy::run(args, out).await,
        Command::Audit(args) => audit::run(args, out).await,
        Command::Import(args) => import::run(args, out).await,
        Command::Rotate(args) => rotate::run(args, out).await,
        Command::Show(args) => show::run(args, out),
        Command::Validate { files, format } => Ok(validate(&files, format)),
        Command::Schema(args) => {
            let schema = if args.plan {
                crate::render::schema::plan_schema()
            } else if args.apply_events {
                crate::apply::events::schema()
            } else if args.audit {
                crate::audit::schema::schema()
            } else {
                crate::blueprint::json_schema()
            };
            let text = serde_json::to_string_pretty(&schema).unwrap_or_default();
            output::print_stdout(&format!("{text}\n"));
            Ok(0)
        }
        Command::Emulator(args) => emulator(args).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "moat", &mut std::io::stdout());
            Ok(0)
        }
    }
}

/// `moat validate`: every file's findings in `format` on stdout; exit 1 when a file has errors.
fn validate(
    files: &[std::path::PathBuf],
    format: crate::render::diagnostics::DiagnosticFormat,
) -> i32 {
    use std::io::Write;
    let checked = crate::blueprint::validate(files, &crate::blueprint::Options::default());
    let cwd = std::env::current_dir().unwrap_or_default();
    let text = crate::render::diagnostics::render(&checked, format, &cwd);
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    crate::blueprint::exit_code(&checked)
}

/// `moat emulator`: serve until Ctrl-C, or (`--reset` alone) forget the state that
/// `--emulator` keeps under `.moat/`.
async fn emulator(args: crate::emulator::cli::EmulatorArgs) -> Result<i32, MoatError> {
    if let Some(crate::emulator::cli::EmulatorAction::Seed { file, out }) = &args.action {
        let bp = load::load_blueprint(file)?;
        let seed = crate::emulator::seed_from::brownfield(&bp);
        let text = serde_json::to_string_pretty(&seed).expect("JSON values serialise") + "\n";
        match out {
            Some(path) => {
                std::fs::write(path, &text).map_err(|source| MoatError::Io {
                    what: "could not write",
                    path: path.display().to_string(),
                    source,
                })?;
                eprintln!(
                    "Wrote {} resources to {}: try it with `moat plan {} --emulator --seed {}`.",
                    seed.len(),
                    path.display(),
                    file.display(),
                    path.display()
                );
            }
            None => output::print_stdout(&text),
        }
        return Ok(0);
    }
    if args.reset && args.state.is_none() && args.seed.is_none() {
        let states = connect::emulator_state_files();
        if states.is_empty() {
            eprintln!(
                "{} holds no emulator state: nothing to reset.",
                connect::EMULATOR_DIR
            );
        }
        for state in states {
            std::fs::remove_file(&state).map_err(|source| MoatError::Io {
                what: "could not remove",
                path: state.display().to_string(),
                source,
            })?;
            eprintln!(
                "Removed {}: the next --emulator run starts from its seed again.",
                state.display()
            );
        }
        return Ok(0);
    }
    crate::emulator::cli::run(args)
        .await
        .map_err(MoatError::Emulator)?;
    Ok(0)
}

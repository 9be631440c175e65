//! Resolve CLI arguments into settings and run the pipeline:
//! blueprint → observe → plan → (render | apply).

mod apply;
mod connect;
pub mod destroy;
mod plan;

use std::io::IsTerminal;
use std::path::Path;

use crate::blueprint::resolved::Blueprint;
use crate::cli::{Cli, Command, Selectors};

pub use connect::Connection;

/// Everything that can stop a command; printed as `error:` / `Caused by:` / `hint:`.
#[derive(Debug, thiserror::Error)]
pub enum MoatError {
    /// Diagnostics were already printed.
    #[error(
        "{file}: the blueprint is not valid ({count} problem(s) above); nothing was sent to Azure"
    )]
    InvalidBlueprint { file: String, count: usize },
    #[error(transparent)]
    Observe(Box<crate::observe::ObserveError>),
    #[error(transparent)]
    Arm(Box<crate::arm::ArmError>),
    #[error(transparent)]
    SavedPlan(#[from] crate::render::json::LoadError),
    #[error("{0}")]
    Usage(String),
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the saved plan is stale: live state changed since it was made\n{0}")]
    StalePlan(String),
    #[error("apply refused: {0}")]
    Refused(String),
    #[error("destroy refused: {0}")]
    DestroyRefused(String),
    #[error("{0}")]
    Emulator(String),
}

impl From<crate::observe::ObserveError> for MoatError {
    fn from(e: crate::observe::ObserveError) -> Self {
        MoatError::Observe(Box::new(e))
    }
}

impl From<crate::arm::ArmError> for MoatError {
    fn from(e: crate::arm::ArmError) -> Self {
        MoatError::Arm(Box::new(e))
    }
}

/// Output policy, passed around instead of scattered `println!` decisions.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub color: bool,
    pub verbose: u8,
    pub stderr_is_terminal: bool,
    pub stdin_is_terminal: bool,
}

impl Output {
    pub fn detect(cli: &Cli) -> Output {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Output {
            color: !cli.no_color && !no_color_env && std::io::stdout().is_terminal(),
            verbose: cli.verbose,
            stderr_is_terminal: std::io::stderr().is_terminal(),
            stdin_is_terminal: std::io::stdin().is_terminal(),
        }
    }
}

/// Run a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> Result<i32, MoatError> {
    let out = Output::detect(&cli);
    match cli.command {
        Command::Plan(args) => plan::run(args, out).await,
        Command::Apply(args) => apply::run(args, out).await,
        Command::Destroy(args) => destroy::run(args, out).await,
        Command::Validate { files } => Ok(crate::blueprint::validate_files(
            &files,
            &mut std::io::stdout(),
        )),
        Command::Schema => {
            let schema = crate::blueprint::json_schema();
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
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

/// `moat emulator`: serve until Ctrl-C, or (`--reset` alone) forget the state that
/// `--emulator` keeps under `.moat/`.
async fn emulator(args: crate::emulator::cli::EmulatorArgs) -> Result<i32, MoatError> {
    if args.reset && args.state.is_none() && args.seed.is_none() {
        let state = connect::emulator_state_path();
        match std::fs::remove_file(&state) {
            Ok(()) => eprintln!(
                "Removed {}: the next --emulator run starts from the quickstart seed.",
                state.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("{} does not exist: nothing to reset.", state.display())
            }
            Err(source) => {
                return Err(MoatError::Io {
                    what: "could not remove",
                    path: state.display().to_string(),
                    source,
                })
            }
        }
        return Ok(0);
    }
    crate::emulator::cli::run(args)
        .await
        .map_err(MoatError::Emulator)?;
    Ok(0)
}

/// Ask before writing: `--auto-approve` approves; otherwise ask on the terminal (only `yes`
/// approves). Without a terminal there is no one to ask: `Err` with the refusal to print.
pub fn approve(
    auto_approve: bool,
    out: Output,
    question: &str,
    reviewed: &str,
) -> Result<bool, String> {
    use std::io::{BufRead, Write};
    if auto_approve {
        return Ok(true);
    }
    if !out.stdin_is_terminal {
        return Err(format!(
            "there is no terminal to confirm on: review the {reviewed} and pass --auto-approve"
        ));
    }
    eprint!("{question} Only 'yes' is accepted: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    Ok(std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == "yes")
}

/// A flag set by the first Ctrl-C (stop scheduling; `what` finish in flight); a second Ctrl-C
/// exits at once. Shared by apply and destroy.
pub fn interrupt_flag(what: &'static str) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\nInterrupted: letting the {what} in flight finish; starting no new ones (Ctrl-C again to stop at once)."
            );
            flag.store(true, Ordering::SeqCst);
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\nStopped at once: operations already sent go on in Azure. Run plan or apply again to see where things stand."
            );
            std::process::exit(130);
        }
    });
    cancel
}

/// Live lines on a terminal, one line per event otherwise (pipelines).
pub fn progress_for(out: Output) -> std::sync::Arc<dyn crate::apply::Progress> {
    if out.stderr_is_terminal {
        std::sync::Arc::new(crate::apply::progress::Bars::new())
    } else {
        std::sync::Arc::new(crate::apply::progress::Lines::new())
    }
}

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
                eprintln!("{d}");
            }
            Ok(bp)
        }
        None => {
            eprintln!("{}", report.diagnostics);
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

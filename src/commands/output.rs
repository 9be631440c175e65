//! Output policy and the terminal interactions the writing commands share: confirmation,
//! Ctrl-C, progress.

use std::io::IsTerminal;

use crate::cli::{Cli, MarkdownArgs};
use crate::render::markdown;

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

/// The markdown options of `plan` and `show`; `saved` is the plan file the folded line points to.
pub fn markdown_options(args: &MarkdownArgs, saved: Option<String>) -> markdown::Options {
    markdown::Options {
        max_bytes: args.max_bytes.map_or(args.comment_host.budget(), |n| {
            usize::try_from(n).unwrap_or(usize::MAX)
        }),
        marker: args.marker.clone(),
        saved,
    }
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

/// The live board on a terminal; the timestamped line-per-event log otherwise (pipelines), and
/// also with `-v`, whose log lines would tear a board redrawn in place (and `TERM=dumb`).
pub fn progress_for(out: Output) -> std::sync::Arc<dyn crate::apply::Progress> {
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    if out.stderr_is_terminal && out.verbose == 0 && !dumb {
        std::sync::Arc::new(crate::apply::progress::Live::new())
    } else {
        std::sync::Arc::new(crate::apply::progress::Lines::new())
    }
}

/// Write `text` to stdout. A reader that went away (`moat plan … | head`) ends the output quietly
/// (`print!` would panic); any other failure is said on stderr.
pub fn print_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => eprintln!("warning: could not write to stdout: {e}"),
    }
}

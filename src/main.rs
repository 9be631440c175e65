//! `moat`: parse the command line, run, print the error chain once, exit with the command's code.

use clap::Parser;

fn main() {
    let cli = match moat::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap exits 2 on a usage error, and 2 is `plan --detailed-exitcode`'s "changes": a
            // mistyped flag must never pass for a plan with changes. Usage errors exit 1; help
            // and version (printed to stdout) exit 0.
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    moat::report::init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(moat::commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", moat::report::render_error(&e));
            1
        }
    };
    // Do not wait for background tasks (progress ticks, the Ctrl-C listener).
    runtime.shutdown_background();
    std::process::exit(code);
}

//! `moat`: parse the command line, run, print the error chain once, exit with the command's code.

use clap::Parser;

fn main() {
    let cli = moat::cli::Cli::parse();
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

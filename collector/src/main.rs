//! `scout-collector`: logging, arguments, then the library does the work.

use std::process::ExitCode;

use clap::Parser;
use scout_collector::cli::Cli;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own story; its components only speak up about problems.
    #[cfg(feature = "demo")]
    let default_level = match cli.command {
        Some(scout_collector::cli::Command::Demo(_)) => "warn",
        _ => "info",
    };
    #[cfg(not(feature = "demo"))]
    let default_level = "info";
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SCOUT_LOG").unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: Failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(scout_collector::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

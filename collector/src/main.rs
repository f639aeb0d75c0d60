//! `scout-collector`: logging, arguments, the shutdown signal, then the library does the work.

use std::process::ExitCode;

use clap::Parser;
use futures_util::future::Either;
use scout_collector::cli::Cli;
use scout_common::shutdown::shutdown_signal;
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
            // PostgreSQL's notices ("relation … already exists, skipping" at every start) are
            // not news to an operator; warnings and errors still show.
            EnvFilter::try_from_env("SCOUT_LOG").unwrap_or_else(|_| {
                EnvFilter::new(format!("{default_level},sqlx::postgres::notice=warn"))
            }),
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
    let outcome = runtime.block_on(async {
        // Installed here, inside the runtime and before any slow start-up step (connecting to
        // and migrating the database), for the commands that stop on it; the others keep the
        // default, so Ctrl-C ends them at once.
        let shutdown = if cli.stops_on_signal() {
            Either::Left(shutdown_signal())
        } else {
            Either::Right(std::future::pending())
        };
        scout_collector::cli::run(cli, shutdown).await
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

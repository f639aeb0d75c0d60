//! `scout-agent`: logging, the TLS crypto provider, arguments, the shutdown signal; the library
//! does the rest.

use std::process::ExitCode;

use clap::Parser;
use futures_util::future::Either;
use scout_agent::cli::{self, Cli};
use scout_common::shutdown::shutdown_signal;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SCOUT_AGENT_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // One crypto library in the whole process: ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    // Worker threads for `run` only; the other subcommands start no thread (see cli.rs).
    let runtime = match cli.runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: Failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        // Installed here, inside the runtime and before any slow start-up step (the outbox's
        // check), for the commands that stop on it; the others keep the default, so Ctrl-C
        // ends them at once.
        let shutdown = if cli.stops_on_signal() {
            Either::Left(shutdown_signal())
        } else {
            Either::Right(std::future::pending())
        };
        cli::run(cli, shutdown).await
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

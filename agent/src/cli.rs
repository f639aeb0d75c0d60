//! The `scout-agent` command line: `run` (the service), `status`, `enqueue`, `validate`,
//! `simulate`, `dead-letters`. Every subcommand takes `--config PATH`. `validate` and `run`
//! check the whole configuration ([`AgentConfig::check`]: `run` exits 2 on an error, before it
//! binds, and starts the service from the [`CheckedConfig`]); the other commands read only the
//! keys they need (see [`crate::config`]).
//!
//! Only `run` gets a multi-threaded runtime. The other subcommands are short and run on the
//! calling thread ([`Cli::runtime`]): their SQLite and file work is done in place rather than
//! through `spawn_blocking`, and `status` tries HTTP only when something listens, so they start
//! no thread at all. That keeps them light on the device, and lets the cross-built binary be
//! smoke-tested under qemu-user, where a process that starts threads hangs (cross/smoke.sh).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use scout_common::DeviceId;
use tokio::net::TcpListener;

use crate::config::{AgentConfig, CheckedConfig, DEFAULT_CONFIG_PATH, Severity};
use crate::outbox::{BufferError, Outbox, OutboxReader, OutboxStats};
use crate::simulate::StoreTraffic;
use crate::status::{self, LISTEN_STATE_KEY, StatusReport};
use crate::uplink::disk_free_bytes;

/// Scout store agent: buffers the counter's transactions and ships them to the collector.
#[derive(Debug, Parser)]
#[command(name = "scout-agent", version, about)]
pub struct Cli {
    /// Configuration file (TOML); `SCOUT_AGENT_<KEY>` variables override it.
    #[arg(long, global = true, env = "SCOUT_AGENT_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (intake, outbox, uplink, status server).
    Run,
    /// Show the device's state; works whether or not the service runs.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Take in transactions from JSON files, JSON arrays or NDJSON (`-` for stdin).
    Enqueue {
        #[arg(default_value = "-")]
        paths: Vec<PathBuf>,
    },
    /// Check the configuration and exit non-zero if it cannot work.
    Validate,
    /// Send realistic store traffic through the local intake (or print it as NDJSON).
    Simulate {
        /// Transactions per second.
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
        /// How many to send (default: until Ctrl-C).
        #[arg(long)]
        count: Option<u64>,
        /// Share of transactions carrying field quirks (0..1).
        #[arg(long, default_value_t = 0.3)]
        quirks: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print NDJSON to stdout instead of sending (e.g. into `scout-agent enqueue -`).
        #[arg(long)]
        print: bool,
    },
    /// List or export the transactions the collector rejected for good.
    DeadLetters {
        /// Write all of them as NDJSON to this file (`-` for stdout).
        #[arg(long)]
        export: Option<PathBuf>,
        /// How many to list (newest first).
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

impl Cli {
    /// The runtime this subcommand runs on: two worker threads for the service, the calling
    /// thread alone for everything else.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        let mut builder = match self.command {
            Command::Run => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(2);
                builder
            }
            _ => tokio::runtime::Builder::new_current_thread(),
        };
        builder.enable_all().build()
    }

    /// Whether this subcommand stops on SIGINT/SIGTERM (the service, `simulate`); the binary
    /// installs the handlers only for these, before anything slow starts.
    pub fn stops_on_signal(&self) -> bool {
        matches!(self.command, Command::Run | Command::Simulate { .. })
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<AgentConfig> {
    AgentConfig::load_from_process(Some(path))
        .with_context(|| format!("Failed to load the configuration {}", path.display()))
}

/// Runs one subcommand; `shutdown` ends `run` and `simulate`.
pub async fn run(
    cli: Cli,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<ExitCode> {
    let config = load(&cli.config)?;
    match cli.command {
        Command::Validate => Ok(validate(&cli.config, &config)),
        Command::Run => {
            let Some(config) = checked_or_logged(&config) else {
                return Ok(ExitCode::from(2));
            };
            let listen = config.listen();
            let listener = TcpListener::bind(listen)
                .await
                .with_context(|| format!("Failed to listen on {listen}"))?;
            crate::service::run_checked(config, listener, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json } => status_command(&config, json).await,
        Command::Enqueue { paths } => enqueue(&config, paths),
        Command::Simulate {
            rate,
            count,
            quirks,
            seed,
            print,
        } => simulate(&config, rate, count, quirks, seed, print, shutdown).await,
        Command::DeadLetters { export, limit } => dead_letters(&config, export, limit),
    }
}

fn validate(path: &std::path::Path, config: &AgentConfig) -> ExitCode {
    let problems = config.validate();
    for problem in &problems {
        println!("{problem}");
    }
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    if errors > 0 {
        println!(
            "{}: {errors} error(s); the agent cannot run with this configuration",
            path.display()
        );
        ExitCode::FAILURE
    } else {
        println!("{}: OK ({} warning(s))", path.display(), problems.len());
        ExitCode::SUCCESS
    }
}

/// The configuration checked for the service, its problems logged; `None` when an error makes
/// running pointless.
fn checked_or_logged(config: &AgentConfig) -> Option<CheckedConfig> {
    let (checked, problems) = match config.check() {
        Ok(checked) => {
            let warnings = checked.warnings().to_vec();
            (Some(checked), warnings)
        }
        Err(invalid) => (None, invalid.problems),
    };
    for problem in problems {
        match problem.severity {
            Severity::Error => tracing::error!(key = problem.key, "{}", problem.message),
            Severity::Warning => tracing::warn!(key = problem.key, "{}", problem.message),
        }
    }
    checked
}

/// How long `status` waits for the service's port to accept a connection.
const PROBE_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The live report from the running service, if it answers. A plain TCP connect comes first:
/// when nothing listens (the service is stopped), no HTTP client is built at all.
async fn live_report(config: &AgentConfig, outbox: Option<&OutboxReader>) -> Option<StatusReport> {
    let addr: SocketAddr = if config.listen.port() == 0 {
        outbox?.state_value(LISTEN_STATE_KEY).ok()??.parse().ok()?
    } else {
        config.listen
    };
    drop(std::net::TcpStream::connect_timeout(&addr, PROBE_CONNECT_TIMEOUT).ok()?);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .ok()?;
    let response = client
        .get(format!("http://{addr}/status.json"))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

fn empty_stats(config: &AgentConfig) -> OutboxStats {
    OutboxStats {
        pending_count: 0,
        pending_bytes: 0,
        oldest_pending_seq: None,
        oldest_pending_captured_at: None,
        dead_letter_count: 0,
        dead_letter_bytes: 0,
        refused_total: 0,
        last_seq: 0,
        max_bytes: Some(config.max_outbox_bytes),
        file_bytes: 0,
        quarantined: None,
    }
}

async fn status_command(config: &AgentConfig, json: bool) -> anyhow::Result<ExitCode> {
    let outbox = match Outbox::open_read_only(&config.outbox_path) {
        Ok(outbox) => Some(outbox),
        Err(BufferError::NotFound { .. }) => None,
        Err(e) => return Err(e).context("Failed to read the outbox"),
    };
    let report = match live_report(config, outbox.as_ref()).await {
        Some(report) => report,
        None => {
            let stats = match &outbox {
                Some(outbox) => outbox.stats().context("Failed to read the outbox")?,
                None => empty_stats(config),
            };
            let persisted = status::Persisted::read(|key| {
                outbox
                    .as_ref()
                    .and_then(|o| o.state_value(key).ok().flatten())
            });
            status::build(&status::Inputs {
                subject: &status::Subject::from(config),
                stats: &stats,
                persisted: &persisted,
                live: None,
                started_at: None,
                disk_free_bytes: disk_free_bytes(&config.outbox_path),
                now: chrono::Utc::now(),
            })
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
        if outbox.is_none() {
            println!(
                "(no outbox at {} yet: the service has not run)",
                config.outbox_path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn enqueue(config: &AgentConfig, paths: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let device = DeviceId::parse(&config.device_id).context("Invalid device_id")?;
    let owner = crate::intake::Owner::new(device, &config.store_id);
    let mut outbox = crate::intake::open_outbox_for_enqueue(config)
        .with_context(|| format!("Failed to open the outbox {}", config.outbox_path.display()))?;
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let summary =
        crate::intake::enqueue_paths(&mut outbox, &owner, &paths, &mut stdin, &mut stdout);
    let _ = stdout.flush();
    outbox.close().context("Failed to close the outbox")?;
    Ok(if summary.all_taken() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn simulate(
    config: &AgentConfig,
    rate: f64,
    count: Option<u64>,
    quirks: f64,
    seed: u64,
    print: bool,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        rate > 0.0 && rate.is_finite(),
        "--rate must be a positive number"
    );
    let mut traffic = StoreTraffic::new(
        &config.device_id.trim().to_ascii_uppercase(),
        &config.store_id,
        quirks,
        seed,
    );
    if print {
        let mut out = std::io::stdout().lock();
        for _ in 0..count.unwrap_or(100) {
            writeln!(out, "{}", traffic.next_transaction(chrono::Utc::now()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let outbox = Outbox::open_read_only(&config.outbox_path).ok();
    let mut addr = config.listen.to_string();
    if config.listen.port() == 0
        && let Some(found) = outbox
            .as_ref()
            .and_then(|o| o.state_value(LISTEN_STATE_KEY).ok().flatten())
    {
        addr = found;
    }
    let url = format!("http://{addr}/v1/transactions");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()?;
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let (mut sent, mut accepted, mut refused) = (0_u64, 0_u64, 0_u64);
    println!("sending to {url} at {rate} transaction(s)/s; Ctrl-C stops");
    while count.is_none_or(|c| sent < c) {
        tokio::select! {
            () = &mut shutdown => break,
            _ = ticks.tick() => {}
        }
        let body = traffic.next_transaction(chrono::Utc::now()).to_string();
        sent += 1;
        match client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => accepted += 1,
            Ok(r) => {
                refused += 1;
                let code = r.status();
                let text = r.text().await.unwrap_or_default();
                eprintln!("refused ({code}): {text}");
            }
            Err(e) => {
                anyhow::bail!(
                    "the agent's intake at {url} did not answer ({e}); is `scout-agent run` running?"
                )
            }
        }
    }
    println!("sent {sent}, accepted {accepted}, refused {refused}");
    Ok(ExitCode::SUCCESS)
}

fn dead_letters(
    config: &AgentConfig,
    export: Option<PathBuf>,
    limit: usize,
) -> anyhow::Result<ExitCode> {
    let outbox =
        Outbox::open_read_only(&config.outbox_path).context("Failed to read the outbox")?;
    match export {
        Some(target) if target.as_os_str() == "-" => {
            let report = outbox.export_dead_letters(std::io::stdout().lock())?;
            eprintln!("exported {} dead letter(s)", report.count);
        }
        Some(target) => {
            let file = std::fs::File::create(&target)
                .with_context(|| format!("Failed to create {}", target.display()))?;
            let report = outbox.export_dead_letters(std::io::BufWriter::new(file))?;
            println!(
                "exported {} dead letter(s) to {}",
                report.count,
                target.display()
            );
        }
        None => {
            let letters = outbox.dead_letters(limit)?;
            if letters.is_empty() {
                println!("no dead letters");
            }
            for d in letters {
                println!(
                    "seq {:<8} {}  {}  {}",
                    d.seq,
                    d.dead_lettered_at.format("%Y-%m-%d %H:%M:%S"),
                    d.transaction_id,
                    d.reason
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

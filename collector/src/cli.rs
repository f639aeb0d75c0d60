//! The `scout-collector` command line: subcommands and what each prints.

use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::brands::BrandMatcher;
use crate::config::{ServeConfig, default_serve_config};
use crate::pipeline::{Pipeline, PipelineOptions};
use crate::store::{DEFAULT_DATABASE_URL, Store, StoreOptions, redact};

/// Scout collector: device ingest and retail analytics.
#[derive(Debug, Parser)]
#[command(name = "scout-collector", version, about)]
pub struct Cli {
    /// Database: sqlite://PATH (embedded default) or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (applies migrations first).
    Serve(ServeConfig),
    /// Apply database migrations and exit.
    Migrate,
    /// Issue, list and revoke device tokens.
    #[command(subcommand)]
    Device(crate::cli_device::DeviceCommand),
    /// Print the brand detected in a product name or transcript, as JSON (no database needed).
    Brand(BrandArgs),
    /// The brand loop: names silver could not resolve (`unresolved`), and teaching the matcher
    /// (`alias`, `add`) with a targeted re-process of the rows that change.
    Brands(crate::curation::BrandsArgs),
    /// Run the medallion stages (bronze → silver → gold) until nothing is pending, and print
    /// what each stage did. `serve` does this continuously; this is for batch runs and rebuilds.
    Process(ProcessArgs),
    /// Print a day's gold KPIs per store and brand.
    Kpis(KpisArgs),
    /// Import sales files (CSV, TSV, JSON, NDJSON, Excel, XML, Parquet; a folder's files):
    /// detect, infer, map, land in staging and, when mapped, bronze; then bring silver and
    /// gold up to date. Exits non-zero when a file failed.
    Import(ImportArgs),
    /// Answer a question about sales in English, Filipino or Taglish ("top 5 brands last
    /// week", "kita ng bawat tindahan ngayong linggo"). Exit 0 answered, 1 asked back, 2 refused.
    Ask(AskArgs),
    /// Run the quality gates; exit 0 when all pass (or have no data), 1 on a warning, 2 on a
    /// failure.
    Gates(crate::cli_ops::GatesArgs),
    /// Write the weekly report (KPIs per store and brand against the week before, quality,
    /// gates, fleet, charts) as one self-contained HTML file, and print its path.
    Report(crate::cli_ops::ReportArgs),
    /// The morning check: database, layers, gates, performance, fleet, pending work; exit 0
    /// healthy, 1 attention, 2 failing or database unreachable. With --incident, the runbook's
    /// diagnostics for that incident.
    Doctor(crate::cli_ops::DoctorArgs),
    /// The weekly maintenance: move staging, bronze and silver rows older than the cut to the
    /// archive (gold stays), then refresh statistics and indexes.
    Maintain(crate::cli_ops::MaintainArgs),
    /// Start a collector on the embedded SQLite default and a small fleet of simulated ScoutPi
    /// agents, let them trade, then print the day's KPIs per store and brand. Built only with
    /// the `demo` cargo feature (it links the agent).
    #[cfg(feature = "demo")]
    Demo(crate::demo::DemoArgs),
}

#[derive(Debug, clap::Args)]
pub struct ProcessArgs {
    /// Rebuild silver and gold from all of bronze (after a dictionary change, say).
    #[arg(long)]
    pub rebuild: bool,
    /// Rebuild gold from silver as it stands (after a change to the gold definitions).
    #[arg(long, conflicts_with = "rebuild")]
    pub rebuild_gold: bool,
    /// An operator's brand dictionary file, merged over the shipped one.
    #[arg(long = "brands-file", env = crate::brands::BRANDS_FILE_ENV, value_name = "PATH")]
    pub brands_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Files, or folders whose files to import.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    /// Print the reports as JSON (one array).
    #[arg(long)]
    pub json: bool,
    /// Read the files as this format instead of detecting it (json, csv, tsv, excel, xml,
    /// parquet).
    #[arg(long, value_parser = parse_format)]
    pub force_format: Option<crate::files::FileFormat>,
    /// The Excel sheet to read (default: the first that holds data).
    #[arg(long)]
    pub sheet_name: Option<String>,
    /// The delimiter of delimited text (default: detected).
    #[arg(long)]
    pub delimiter: Option<char>,
    /// Lines to skip before the header row (default: detected).
    #[arg(long)]
    pub skip_rows: Option<usize>,
    /// Import at most this many data rows per file.
    #[arg(long)]
    pub max_rows: Option<usize>,
    /// The store of transactions that name none.
    #[arg(long = "store", value_name = "STORE_ID")]
    pub store_id: Option<String>,
    /// An operator's brand dictionary file, merged over the shipped one.
    #[arg(long = "brands-file", env = crate::brands::BRANDS_FILE_ENV, value_name = "PATH")]
    pub brands_file: Option<PathBuf>,
}

fn parse_format(name: &str) -> Result<crate::files::FileFormat, String> {
    crate::files::FileFormat::from_name(name).ok_or_else(|| format!("unknown format {name:?}"))
}

#[derive(Debug, clap::Args)]
pub struct AskArgs {
    pub question: String,
    /// The day relative periods count from (default: today in Asia/Manila).
    #[arg(long)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Print one JSON object (`plan`, `sql`, `columns`, `rows`; or `refused`).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print the rows as CSV.
    #[arg(long)]
    pub csv: bool,
    /// An operator's brand dictionary file, merged over the shipped one.
    #[arg(long = "brands-file", env = crate::brands::BRANDS_FILE_ENV, value_name = "PATH")]
    pub brands_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct KpisArgs {
    /// Business day (Asia/Manila), YYYY-MM-DD; the newest day in gold when omitted.
    #[arg(long)]
    pub date: Option<chrono::NaiveDate>,
    /// Only this store.
    #[arg(long)]
    pub store: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct BrandArgs {
    /// A product name or transcript, e.g. "koka 1.5L" (several words are joined by spaces).
    #[arg(required = true, num_args = 1..)]
    pub text: Vec<String>,
    /// An operator's dictionary file (same format as collector/data/brands.toml), merged over
    /// the shipped one.
    #[arg(long, env = crate::brands::BRANDS_FILE_ENV, value_name = "PATH")]
    pub dictionary: Option<PathBuf>,
}

impl Cli {
    /// Whether this subcommand stops on SIGINT/SIGTERM (`serve`, the default, and `demo`); the
    /// binary installs the handlers only for these, before anything slow starts.
    pub fn stops_on_signal(&self) -> bool {
        match &self.command {
            None | Some(Command::Serve(_)) => true,
            #[cfg(feature = "demo")]
            Some(Command::Demo(_)) => true,
            Some(_) => false,
        }
    }
}

/// Runs one subcommand to completion. `shutdown` ends `serve` and `demo`; when it completes
/// while the database is still being connected to or migrated, start-up stops there and the
/// command exits successfully (a migration cut short is rolled back by the database, and
/// applied whole at the next start).
pub async fn run(cli: Cli, shutdown: impl Future<Output = ()>) -> anyhow::Result<ExitCode> {
    if let Some(Command::Brand(args)) = &cli.command {
        return brand(args); // needs no database
    }
    #[cfg(feature = "demo")]
    if let Some(Command::Demo(args)) = &cli.command {
        return crate::demo::run(args, shutdown).await; // brings its own database
    }
    if let Some(Command::Doctor(args)) = &cli.command {
        return crate::cli_ops::doctor(&cli.database_url, args).await; // an answer when down
    }
    let mut shutdown = pin!(shutdown);
    let store = tokio::select! {
        store = open_store(&cli.database_url) => store?,
        () = &mut shutdown => {
            tracing::info!("stopped during start-up, before serving");
            return Ok(ExitCode::SUCCESS);
        }
    };
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(default_serve_config()));
    match command {
        Command::Migrate => {
            println!("migrations applied ({:?})", store.backend());
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(config) => {
            config.check().context("Failed to start")?;
            let listener = TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("Failed to listen on {}", config.listen))?;
            crate::run(listener, store, config, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Device(command) => crate::cli_device::device(&store, command).await,
        Command::Brand(args) => brand(&args),
        Command::Brands(args) => crate::curation::brands_command(&store, args).await,
        Command::Process(args) => process(store, &args).await,
        Command::Kpis(args) => kpis(&store, &args).await,
        Command::Import(args) => import(store, &args).await,
        Command::Gates(args) => crate::cli_ops::gates(&store, &args).await,
        Command::Report(args) => crate::cli_ops::report(&store, &args).await,
        Command::Ask(args) => ask(store, &args).await,
        Command::Doctor(args) => crate::cli_ops::doctor(&cli.database_url, &args).await,
        Command::Maintain(args) => crate::cli_ops::maintain(&store, &args).await,
        #[cfg(feature = "demo")]
        Command::Demo(args) => crate::demo::run(&args, shutdown).await,
    }
}

async fn import(store: Store, args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let pipeline = pipeline(&store, args.brands_file.clone()).await?;
    let paths = crate::import::expand(&args.paths).context("Failed to list the files")?;
    let options = crate::import::ImportOptions {
        files: crate::files::Options {
            force_format: args.force_format,
            sheet_name: args.sheet_name.clone(),
            delimiter: args.delimiter,
            skip_rows: args.skip_rows,
            max_rows: args.max_rows,
        },
        store_id: args.store_id.clone(),
        file_id: None,
        file_name: None,
        progress: None,
    };
    let mut reports = Vec::with_capacity(paths.len());
    for path in &paths {
        let mut options = options.clone();
        // A bar on a terminal for a large file; `--json` prints nothing but its JSON.
        let _bar = if args.json {
            None
        } else {
            eprintln!("importing {}", path.display());
            let progress = Arc::new(crate::progress::Progress::default());
            options.progress = Some(Arc::clone(&progress));
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            Some(crate::progress::Bar::start(name, size, &progress))
        };
        reports.push(crate::import::import_file(&store, path, &options).await?);
    }
    if reports.iter().any(|r| r.inserted > 0) {
        let report = pipeline.catch_up().await?;
        if !args.json {
            eprintln!(
                "silver: {} rows ({} quarantined); gold: {} partitions rebuilt",
                report.silver.silver_rows, report.silver.quarantined, report.gold.partitions
            );
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print!("{}", crate::import::summary_table(&reports));
    }
    Ok(if reports.iter().any(crate::import::ImportReport::failed) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The pipeline a batch command runs: the dictionary with the operator file and taught entries.
async fn pipeline(store: &Store, brands_file: Option<PathBuf>) -> anyhow::Result<Pipeline> {
    Pipeline::with_dictionary(store.clone(), brands_file, PipelineOptions::default())
        .await
        .context("Failed to load the brand dictionary")
}

/// Connects to the database and applies the pending migrations.
async fn open_store(url: &str) -> anyhow::Result<Store> {
    let store = Store::connect(url, &StoreOptions::default())
        .await
        .with_context(|| format!("Failed to connect to {}", redact(url)))?;
    store.migrate().await.context("Failed to migrate")?;
    Ok(store)
}

async fn process(store: Store, args: &ProcessArgs) -> anyhow::Result<ExitCode> {
    let pipeline = pipeline(&store, args.brands_file.clone()).await?;
    if args.rebuild {
        let marked = store.reset_medallion().await?;
        println!("rebuild: {marked} bronze rows marked for processing");
    }
    if args.rebuild_gold {
        let queued = store.queue_gold_rebuild().await?;
        println!("rebuild: {queued} day × store partitions queued for gold");
    }
    let report = pipeline.catch_up().await?;
    let s = &report.silver;
    println!(
        "silver: {} bronze rows → {} silver rows, {} quarantined, in {:.2} s",
        s.bronze_rows, s.silver_rows, s.quarantined, report.silver_secs
    );
    println!(
        "gold:   {} day × store partitions rebuilt ({} gold rows) in {:.2} s",
        report.gold.partitions, report.gold.gold_rows, report.gold_secs
    );
    Ok(ExitCode::SUCCESS)
}

async fn kpis(store: &Store, args: &KpisArgs) -> anyhow::Result<ExitCode> {
    let date = match args.date {
        Some(d) => d,
        None => match store.latest_gold_date().await? {
            Some(d) => d,
            None => {
                eprintln!("gold is empty: nothing processed yet (run `scout-collector process`)");
                return Ok(ExitCode::FAILURE);
            }
        },
    };
    let rows = store.gold_day(date, args.store.as_deref()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", crate::gold::kpi_table(date, &rows));
    }
    Ok(ExitCode::SUCCESS)
}

async fn ask(store: Store, args: &AskArgs) -> anyhow::Result<ExitCode> {
    use crate::platinum::{Engine, Outcome, print};
    let matcher = crate::curation::matcher(&store, args.brands_file.as_deref()).await?;
    let engine = Engine::new(store).with_brands(Arc::new(matcher));
    let outcome = engine.ask(&args.question, args.as_of).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else if let Some(csv) = args.csv.then(|| print::csv(&outcome)).flatten() {
        print!("{}", csv.context("Failed to write CSV")?);
    } else {
        print!("{}", print::table(&outcome));
    }
    Ok(match outcome {
        Outcome::Answered { .. } => ExitCode::SUCCESS,
        Outcome::Clarify { .. } => ExitCode::from(1),
        Outcome::Refused { .. } => ExitCode::from(2),
    })
}

fn brand(args: &BrandArgs) -> anyhow::Result<ExitCode> {
    let matcher = BrandMatcher::load(args.dictionary.as_deref())
        .context("Failed to load the brand dictionary")?;
    let text = args.text.join(" ");
    let report = matcher.report(&text);
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
mod tests {
    use std::time::{Duration, Instant};

    use clap::Parser as _;

    use super::*;

    #[tokio::test]
    async fn a_shutdown_while_the_database_does_not_answer_stops_start_up_cleanly() {
        // A server that takes connections and never says a word: connecting waits for it
        // (up to the pool's acquire timeout, 5 s).
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("postgres://scout@{}/scout", silent.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((connection, _)) = silent.accept().await {
                held.push(connection);
            }
        });
        let cli =
            Cli::try_parse_from(["scout-collector", "--database-url", &url, "serve"]).unwrap();
        assert!(cli.stops_on_signal());
        let started = Instant::now();
        let code = run(cli, tokio::time::sleep(Duration::from_millis(200)))
            .await
            .expect("a stop during start-up is not an error");
        assert_eq!(code, ExitCode::SUCCESS);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "start-up did not stop when asked: {:?}",
            started.elapsed()
        );
        server.abort();
    }

    #[test]
    fn only_the_long_running_commands_wait_for_a_signal() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).unwrap();
        assert!(parse(&["scout-collector"]).stops_on_signal());
        assert!(parse(&["scout-collector", "serve"]).stops_on_signal());
        for command in [
            &["migrate"][..],
            &["process"],
            &["kpis"],
            &["device", "list"],
        ] {
            let args: Vec<&str> = std::iter::once("scout-collector")
                .chain(command.iter().copied())
                .collect();
            assert!(!parse(&args).stops_on_signal(), "{command:?}");
        }
    }
}

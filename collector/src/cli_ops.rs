//! The operator's routine on the command line: `gates`, `doctor` (the morning check and the
//! incident runbook), `maintain` (the weekly maintenance window) and `report --week`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::GatesSettings;
use crate::doctor::{self, Incident, Verdict};
use crate::routes::fleet::Thresholds;
use crate::store::{Store, StoreOptions, redact};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print one JSON object instead of a report.
    #[arg(long)]
    pub json: bool,
    /// Print the runbook's diagnostics for this incident instead of the morning check.
    #[arg(long, value_enum)]
    pub incident: Option<Incident>,
    /// Seconds of silence after which a device is stale.
    #[arg(long, env = "SCOUT_STALE_AFTER_SECS", default_value_t = crate::routes::fleet::DEFAULT_STALE_AFTER_SECS)]
    pub stale_after_secs: u64,
    /// Age of a device's oldest queued line, in seconds, after which it has a backlog.
    #[arg(long, env = "SCOUT_BACKLOG_AFTER_SECS", default_value_t = crate::routes::fleet::DEFAULT_BACKLOG_AFTER_SECS)]
    pub backlog_after_secs: u64,
    #[command(flatten)]
    pub gates: GatesSettings,
}

/// `doctor`: connects itself, so that an unreachable database is a verdict (exit 2, one line on
/// stderr) rather than a start-up error.
pub async fn doctor(database_url: &str, args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let config = args
        .gates
        .config()
        .context("Failed to read the gates' settings")?;
    let opened = async {
        let store = Store::connect(database_url, &StoreOptions::default()).await?;
        store.migrate().await?;
        Ok::<_, crate::store::StoreError>(store)
    }
    .await;
    let store = match opened {
        Ok(store) => store,
        Err(e) => {
            let message = format!("database unreachable ({}): {e}", redact(database_url));
            if args.json {
                let answer = serde_json::json!({"verdict": Verdict::Failing,
                    "reasons": [message], "database": {"reachable": false}});
                println!("{answer}");
            }
            eprintln!("error: {message}");
            return Ok(ExitCode::from(Verdict::Failing.exit_code()));
        }
    };
    let now = chrono::Utc::now();
    if let Some(incident) = args.incident {
        let report = doctor::incident(
            &store,
            incident,
            config.window,
            config.format_detection,
            now,
        )
        .await
        .context("Failed to gather the incident's diagnostics")?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", doctor::incident_text(&report));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let thresholds = Thresholds {
        stale_after_secs: args.stale_after_secs,
        backlog_after_secs: args.backlog_after_secs,
    };
    let report = doctor::check(&store, &config, thresholds, now)
        .await
        .context("Failed to run the morning check")?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", doctor::report_text(&report));
    }
    Ok(ExitCode::from(report.verdict.exit_code()))
}

#[derive(Debug, clap::Args)]
pub struct MaintainArgs {
    /// Print what would move; move nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Rows older than this many days move to the archive.
    #[arg(long, env = "SCOUT_ARCHIVE_AFTER_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub older_than_days: u32,
    /// Rows per batch (one transaction each).
    #[arg(long, env = "SCOUT_MAINTAIN_BATCH_ROWS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..100_000))]
    pub batch_rows: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `maintain`: the weekly maintenance window.
pub async fn maintain(store: &Store, args: &MaintainArgs) -> anyhow::Result<ExitCode> {
    let fail_after_batches = match std::env::var(crate::maintain::FAIL_AFTER_BATCHES_ENV) {
        Ok(n) => Some(n.parse().with_context(|| {
            format!(
                "{} must be a number",
                crate::maintain::FAIL_AFTER_BATCHES_ENV
            )
        })?),
        Err(_) => None,
    };
    let options = crate::maintain::MaintainOptions {
        older_than_days: args.older_than_days,
        batch_rows: usize::try_from(args.batch_rows).unwrap_or(1000),
        dry_run: args.dry_run,
        fail_after_batches,
    };
    let report = crate::maintain::maintain(store, &options, chrono::Utc::now())
        .await
        .context("Failed to run the maintenance")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let m = &report.moved;
        println!(
            "{} rows older than {} (silver days before {}): {} staging files, {} bronze rows \
             ({} scores), {} silver rows, {} quarantine records{}",
            if report.dry_run {
                "would move"
            } else {
                "moved"
            },
            report.cut.format("%Y-%m-%d %H:%M UTC"),
            report.cut_day,
            m.staging_files,
            m.bronze_rows,
            m.bronze_scores,
            m.silver_rows,
            m.quarantine_rows,
            if report.dry_run {
                String::new()
            } else {
                format!(" in {} batches, {:.2} s", report.batches, report.seconds)
            }
        );
        for statement in &report.tidy {
            println!("ran {statement}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct GatesArgs {
    /// Print a JSON array (name, status, value, threshold, details, action) instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gates: crate::config::GatesSettings,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The last complete Monday–Sunday week (Asia/Manila) before --as-of (the only period
    /// there is; the flag says so on the command line).
    #[arg(long, required = true)]
    pub week: bool,
    /// Where to write the HTML file (default: scout-weekly-report-MONDAY.html here).
    #[arg(long, value_name = "FILE.html")]
    pub out: Option<PathBuf>,
    /// The day the report is made on, YYYY-MM-DD (default: today in Asia/Manila).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<chrono::NaiveDate>,
}

pub async fn gates(store: &Store, args: &GatesArgs) -> anyhow::Result<ExitCode> {
    let config = args
        .gates
        .config()
        .context("Failed to read the gates' settings")?;
    let results = crate::gates::run_all(store, &config, chrono::Utc::now())
        .await
        .context("Failed to run the quality gates")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print!("{}", crate::gates::table(&results));
    }
    Ok(ExitCode::from(crate::gates::exit_code(&results)))
}

pub async fn report(store: &Store, args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    let as_of = args
        .as_of
        .unwrap_or_else(|| crate::dashboard::manila_date(now));
    let report = crate::dashboard::weekly_report(store, as_of, now)
        .await
        .context("Failed to read the weekly figures")?;
    let path = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!("scout-weekly-report-{}.html", report.week.start))
    });
    std::fs::write(&path, crate::dashboard::report::render(&report))
        .with_context(|| format!("Failed to write {}", path.display()))?;
    println!(
        "weekly report {} to {}: {}",
        report.week.start,
        report.week.end,
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

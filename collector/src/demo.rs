//! `scout-collector demo`: a collector on the embedded default plus a small fleet of simulated
//! ScoutPi agents, trading for a while, then the day's KPIs per store and brand.
//!
//! Nothing is short-cut: each agent is the real agent service (`scout_agent::run`: its SQLite
//! outbox, local HTTP intake, uplink with retries and heartbeats) on its own port, fed by the
//! agent's store-traffic simulator through its `POST /v1/transactions`; the collector is the
//! real server with its background pipeline. Everything lives in one folder, kept afterwards so
//! the databases can be inspected.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use scout_agent::config::{AgentConfig, Secret};
use scout_agent::simulate::StoreTraffic;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{PipelineConfig, ServeConfig, default_serve_config};
use crate::store::{Store, StoreOptions};
use crate::{devices, gold, silver};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Number of stores, one ScoutPi each.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub stores: u16,
    /// How long the stores trade, in seconds.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Transactions per second at each store.
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// Share of transactions with field quirks (0..1).
    #[arg(long, default_value_t = 0.2)]
    pub quirks: f64,
    /// Folder for the collector's and agents' databases (default: a new folder under the
    /// system's temporary directory). Kept afterwards.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Counts the traffic generators keep.
#[derive(Debug, Default)]
struct Traffic {
    accepted: AtomicU64,
    refused: AtomicU64,
}

pub async fn run(args: &DemoArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.rate > 0.0 && args.rate.is_finite(),
        "--rate must be a positive number"
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "scout-demo-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        )),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("Failed to create {}", dir.display()))?;
    let url = format!("sqlite://{}", dir.join("collector.db").display());
    let store = Store::connect(&url, &StoreOptions::default()).await?;
    store.migrate().await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };

    // The collector, with its pipeline checking every second.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let collector_addr = listener.local_addr()?;
    let mut config: ServeConfig = default_serve_config();
    config.listen = collector_addr;
    config.pipeline = PipelineConfig {
        process_poll_secs: 1.0,
        ..config.pipeline
    };
    let collector = tokio::spawn(crate::run(listener, store.clone(), config, stopped()));

    println!(
        "Scout demo: {} store(s) trading for {} s at {} transaction(s)/s each",
        args.stores, args.seconds, args.rate
    );
    println!("  collector  http://{collector_addr}  ({url})");

    // The fleet: one real agent per store, each fed through its own local intake.
    let traffic = Arc::new(Traffic::default());
    let mut agents = Vec::new();
    let mut feeders = Vec::new();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()?;
    let trading_ends = Instant::now() + Duration::from_secs(args.seconds);
    for i in 0..args.stores {
        let device_id = format!("SCOUTPI-{:04}", 9001 + u32::from(i));
        let store_id = format!("{}", 201 + u32::from(i));
        let token = devices::new_token()?;
        store
            .add_device(&device_id, &store_id, &devices::token_hash(&token))
            .await?;
        let home = dir.join(device_id.to_lowercase());
        std::fs::create_dir_all(home.join("spool"))?;
        let agent_listener = TcpListener::bind("127.0.0.1:0").await?;
        let intake = agent_listener.local_addr()?;
        let agent_config = AgentConfig {
            device_id: device_id.clone(),
            store_id: store_id.clone(),
            collector_url: format!("http://{collector_addr}"),
            token: Some(Secret::new(token)),
            outbox_path: home.join("outbox.db"),
            listen: intake,
            spool_dir: home.join("spool"),
            heartbeat_interval_secs: 5,
            backoff_max_ms: 5_000,
            ..AgentConfig::default()
        };
        println!("  {device_id} store {store_id}  status http://{intake}/status");
        agents.push(tokio::spawn(scout_agent::run(
            agent_config,
            agent_listener,
            stopped(),
        )));
        let mut sim = StoreTraffic::new(&device_id, &store_id, args.quirks, 1000 + u64::from(i));
        let client = client.clone();
        let traffic = Arc::clone(&traffic);
        let rate = args.rate;
        feeders.push(tokio::spawn(async move {
            let url = format!("http://{intake}/v1/transactions");
            let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            while Instant::now() < trading_ends {
                ticks.tick().await;
                let body = sim.next_transaction(chrono::Utc::now()).to_string();
                let ok = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                let counter = if ok {
                    &traffic.accepted
                } else {
                    &traffic.refused
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    tokio::pin!(shutdown);
    let interrupted = tokio::select! {
        () = &mut shutdown => true,
        () = progress(&store, &traffic, trading_ends) => false,
    };
    // Each feeder stops by itself when trading ends; waiting for it means a request in flight
    // is counted. Interrupted, they are cut short.
    for f in feeders {
        if interrupted {
            f.abort();
        } else {
            let _ = f.await;
        }
    }
    let accepted = traffic.accepted.load(Ordering::Relaxed);
    if !interrupted {
        // Let the agents deliver what they accepted and the pipeline catch up.
        let settle = tokio::select! {
            () = &mut shutdown => Err(anyhow::anyhow!("interrupted")),
            r = settled(&store, accepted) => r,
        };
        if let Err(e) = settle {
            println!("  not settled: {e}");
        }
    }
    let _ = stop_tx.send(true);
    for a in agents {
        if let Ok(Err(e)) = a.await {
            tracing::warn!(error = %e, "agent stopped with an error");
        }
    }
    collector.await.context("collector task")??;

    let refused = traffic.refused.load(Ordering::Relaxed);
    let bronze = store.bronze_count().await?;
    println!(
        "\n{accepted} transactions accepted by the agents ({refused} refused at intake), \
         {bronze} landed in bronze"
    );
    let today = silver::business_day(chrono::Utc::now());
    let day = match store.latest_gold_date().await? {
        Some(d) if d >= today => today,
        Some(d) => d,
        None => today,
    };
    let rows = store.gold_day(day, None).await?;
    println!("\nGold KPIs for {day} (Asia/Manila), per store and brand:\n");
    print!("{}", gold::kpi_table(day, &rows));
    println!(
        "Databases kept in {}\n  re-print with: scout-collector --database-url {url} kpis --date {day}",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints a progress line every 5 s until trading ends.
async fn progress(store: &Store, traffic: &Traffic, ends: Instant) {
    let started = Instant::now();
    while Instant::now() < ends {
        let left = ends.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_secs(5))).await;
        let bronze = store.bronze_count().await.unwrap_or(-1);
        let pending = store
            .backlog()
            .await
            .map(|b| b.bronze_pending)
            .unwrap_or(-1);
        println!(
            "  t+{:>3.0} s: {} accepted at intake, {bronze} in bronze, {} processed into silver",
            started.elapsed().as_secs_f64(),
            traffic.accepted.load(Ordering::Relaxed),
            bronze - pending
        );
    }
}

/// Waits until bronze holds `accepted` rows and nothing is pending, or 60 s.
async fn settled(store: &Store, accepted: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let bronze = u64::try_from(store.bronze_count().await?).unwrap_or(0);
        let backlog = store.backlog().await?;
        if bronze >= accepted && backlog.bronze_pending == 0 && backlog.gold_pending == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "after 60 s: {bronze} of {accepted} in bronze, {} pending",
            backlog.bronze_pending
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

//! `GET /metrics`: Prometheus text. The pipeline's counters come from this process; the backlog
//! gauges are read from the database at each scrape (shared by every collector on it).
//! `etl_processing_errors`, `etl_last_successful_run` and `etl_quality_score` keep the names
//! existing alert rules use (the product contract, §4). `scout_gate_status` is the latest
//! quality gates run's, read from `metadata.quality_gate_results`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use scout_common::metrics::{CONTENT_TYPE, HistogramSeries, Kind, MetricsText};

use super::AppState;

pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut m = MetricsText::new();
    m.family(
        Kind::Gauge,
        "scout_collector_info",
        "Collector version and database backend.",
        &[(
            &[
                ("version", crate::VERSION),
                ("database", backend_name(&state)),
            ],
            1.0,
        )],
    );
    m.single(
        Kind::Gauge,
        "scout_ingest_requests_in_flight",
        "Ingest requests this process is handling now (503 when --max-in-flight are).",
        state
            .limits
            .max_in_flight
            .max(1)
            .saturating_sub(state.in_flight.available_permits()) as f64,
    );
    match state.store.backlog().await {
        Ok(b) => {
            m.single(
                Kind::Gauge,
                "scout_etl_bronze_pending",
                "Bronze rows not yet processed into silver (all collectors).",
                b.bronze_pending as f64,
            );
            m.single(
                Kind::Gauge,
                "scout_etl_bronze_oldest_pending_age_seconds",
                "Age of the oldest unprocessed bronze row (0 when none).",
                b.oldest_pending_epoch
                    .map_or(0.0, |t| (Utc::now().timestamp() - t).max(0) as f64),
            );
            m.single(
                Kind::Gauge,
                "scout_etl_gold_pending_partitions",
                "Day-and-store partitions waiting for a gold rebuild (all collectors).",
                b.gold_pending as f64,
            );
            m.single(
                Kind::Gauge,
                "scout_etl_gold_failed_partitions",
                "Day-and-store partitions whose gold rebuild the database refused \
                 (metadata.gold_failures, all collectors).",
                b.gold_failed as f64,
            );
            m.single(
                Kind::Gauge,
                "scout_collector_database_up",
                "1 when the database answered this scrape.",
                1.0,
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: database unreachable");
            m.single(
                Kind::Gauge,
                "scout_collector_database_up",
                "1 when the database answered this scrape.",
                0.0,
            );
        }
    }
    match crate::gates::latest(&state.store).await {
        Ok(latest) if !latest.is_empty() => {
            let samples: Vec<(Vec<(&str, &str)>, f64)> = latest
                .iter()
                .map(|(gate, status)| (vec![("gate", gate.as_str())], status.metric() as f64))
                .collect();
            let samples: Vec<(&[(&str, &str)], f64)> =
                samples.iter().map(|(l, v)| (l.as_slice(), *v)).collect();
            m.family(
                Kind::Gauge,
                "scout_gate_status",
                "Each quality gate's status in the latest gates run: 0 pass, 1 warn, 2 fail, \
                 -1 no data.",
                &samples,
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "metrics: gate results unreadable"),
    }
    match crate::gates::latest_unbranded_share(&state.store).await {
        Ok(Some(share)) => {
            m.single(
                Kind::Gauge,
                "scout_unbranded_revenue_share",
                "Share of silver revenue with no brand (brand_name NULL) in the latest \
                 completeness gate's window (`scout-collector brands unresolved` lists the names).",
                share,
            );
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "metrics: completeness details unreadable"),
    }
    match crate::gates::layer_newest(&state.store).await {
        Ok(layers) => {
            let now = Utc::now();
            let samples: Vec<(Vec<(&str, &str)>, f64)> = layers
                .iter()
                .filter_map(|(layer, newest)| {
                    newest.map(|t| {
                        let age = (now - t).num_milliseconds().max(0) as f64 / 1000.0;
                        (vec![("layer", *layer)], age)
                    })
                })
                .collect();
            let samples: Vec<(&[(&str, &str)], f64)> =
                samples.iter().map(|(l, v)| (l.as_slice(), *v)).collect();
            m.family(
                Kind::Gauge,
                "scout_layer_newest_age_seconds",
                "Seconds since the newest row of each layer (bronze ingested_at, silver \
                 loaded_at, gold created_at); a layer with no rows has no sample.",
                &samples,
            );
        }
        Err(e) => tracing::warn!(error = %e, "metrics: layer freshness unreadable"),
    }
    let durations = state.store.audit_durations().snapshot();
    if !durations.is_empty() {
        let buckets: Vec<(Labels<'_>, Vec<(f64, u64)>)> = durations
            .iter()
            .map(|(name, s)| (vec![("function_name", name.as_str())], s.cumulative()))
            .collect();
        let series: Vec<HistogramSeries<'_>> = durations
            .iter()
            .zip(&buckets)
            .map(|((_, s), (labels, cumulative))| HistogramSeries {
                labels,
                buckets: cumulative,
                sum: s.sum_seconds,
                count: s.count,
            })
            .collect();
        m.histogram(
            "scout_audit_duration_seconds",
            "Durations of the operations this process audited (metadata.function_audit), per \
             function_name.",
            &series,
        );
    }
    if let Some(etl) = &state.etl {
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed) as f64;
        m.single(
            Kind::Counter,
            "etl_processing_errors",
            "Medallion passes in this process that failed (retried), plus bronze rows and gold \
             partitions it set aside after they failed on their own.",
            load(&etl.errors),
        );
        m.family(
            Kind::Counter,
            "scout_etl_set_aside_total",
            "Bronze rows (quarantined as storage_failed) and gold partitions (recorded in \
             metadata.gold_failures) this process set aside after they failed on their own.",
            &[
                (&[("stage", "silver")], load(&etl.silver_set_aside)),
                (&[("stage", "gold")], load(&etl.gold_set_aside)),
            ],
        );
        m.single(
            Kind::Gauge,
            "etl_last_successful_run",
            "Unix time this process last completed a medallion pass (0: never).",
            etl.last_caught_up.load(Ordering::Relaxed) as f64,
        );
        if let Some(q) = etl.recent_quality() {
            m.single(
                Kind::Gauge,
                "etl_quality_score",
                "Mean quality score (0..1) of the silver rows this process wrote recently.",
                q,
            );
        }
        m.single(
            Kind::Counter,
            "scout_etl_bronze_processed_total",
            "Bronze rows processed into silver by this process.",
            load(&etl.bronze_processed),
        );
        m.single(
            Kind::Counter,
            "scout_etl_silver_rows_total",
            "Silver rows written by this process.",
            load(&etl.silver_rows),
        );
        m.single(
            Kind::Counter,
            "scout_etl_quarantined_total",
            "Items and transactions quarantined by this process.",
            load(&etl.quarantined),
        );
        m.single(
            Kind::Counter,
            "scout_etl_gold_partitions_total",
            "Gold partitions rebuilt by this process.",
            load(&etl.gold_partitions),
        );
        m.family(
            Kind::Counter,
            "scout_etl_stage_seconds_total",
            "Time spent in each stage by this process.",
            &[
                (&[("stage", "silver")], load(&etl.silver_micros) / 1e6),
                (&[("stage", "gold")], load(&etl.gold_micros) / 1e6),
            ],
        );
        m.family(
            Kind::Counter,
            "scout_etl_batches_total",
            "Stage transactions committed by this process.",
            &[
                (&[("stage", "silver")], load(&etl.silver_batches)),
                (&[("stage", "gold")], load(&etl.gold_batches)),
            ],
        );
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        m.finish(),
    )
        .into_response()
}

/// One series' labels.
type Labels<'a> = Vec<(&'a str, &'a str)>;

fn backend_name(state: &AppState) -> &'static str {
    match state.store.backend() {
        crate::store::Backend::Sqlite => "sqlite",
        crate::store::Backend::Postgres => "postgres",
    }
}

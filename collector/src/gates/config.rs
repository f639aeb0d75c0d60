//! The gates' windows and thresholds as the gates read them: checked values, built once from the
//! operator's settings ([`crate::config::GatesSettings`]) or the operations manual's defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The gates' names, in the order [`super::run_all`] runs them.
pub const GATE_NAMES: [&str; 8] = [
    "format_detection",
    "schema_quality",
    "mapping_confidence",
    "completeness",
    "revenue_consistency",
    "performance",
    "freshness",
    "integration",
];

/// Windows and thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct GatesConfig {
    /// How far back a gate looks, unless [`Self::windows`] names it.
    pub window: Duration,
    /// A window of its own per gate (by name), over [`Self::window`].
    pub windows: BTreeMap<&'static str, Duration>,
    /// Warning margin, a fraction of each threshold.
    pub margin: f64,
    /// Least mean format detection confidence of imported files.
    pub format_detection: f64,
    /// Least mean schema quality score of imported files.
    pub schema_quality: f64,
    /// Least mean column mapping confidence of imported files.
    pub mapping_confidence: f64,
    /// Least share of branded silver rows (per store and day, and overall).
    pub completeness: f64,
    /// Largest relative difference between gold and silver revenue of a day × store.
    pub revenue_tolerance: f64,
    /// Oldest the newest row of any layer may be, in minutes.
    pub freshness_minutes: f64,
    /// Longest mean duration of an audited call, in seconds.
    pub max_avg_seconds: f64,
    /// Bronze rows and partitions missing their next layer (not queued for it) tolerated.
    pub integration_max_missing: f64,
    /// Rows and partitions younger than this are not judged by the integration gate.
    pub integration_grace: Duration,
}

impl Default for GatesConfig {
    /// The operations manual's thresholds, a 24-hour window.
    fn default() -> Self {
        Self {
            window: Duration::from_secs(24 * 3600),
            windows: BTreeMap::new(),
            margin: 0.05,
            format_detection: 0.9,
            schema_quality: 0.8,
            mapping_confidence: 0.85,
            completeness: 0.8,
            revenue_tolerance: 0.05,
            freshness_minutes: 240.0,
            max_avg_seconds: 2.0,
            integration_max_missing: 0.0,
            integration_grace: Duration::from_secs(10 * 60),
        }
    }
}

impl GatesConfig {
    /// The window of the gate named `gate`.
    pub fn window_of(&self, gate: &str) -> Duration {
        self.windows.get(gate).copied().unwrap_or(self.window)
    }

    /// The end of the integration gate's window at `now`: rows younger than the grace period
    /// are not judged yet.
    pub(super) fn integration_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::Duration::from_std(self.integration_grace).unwrap_or_default()
    }

    /// The start of `gate`'s window ending at `now`.
    pub(super) fn since(&self, gate: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::Duration::from_std(self.window_of(gate)).unwrap_or(chrono::Duration::days(1))
    }
}

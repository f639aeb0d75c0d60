//! Running a plan: validate, generate, run read-only within limits, shape the rows, cache the
//! answer for five minutes (keyed by the plan and the data's version), and audit every call in
//! `metadata.ai_sql_audit`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use super::catalogue::Source;
use super::dates::manila_today;
use super::generate::{Output, Query, generate};
use super::plan::{MAX_LIMIT, Measure, Plan, PlanError};
use crate::brands::BrandMatcher;
use crate::store::{ReadLimits, Row, SqlAuditEntry, Store, StoreError};

/// How long an answer stays cached.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// How long one generated query may run.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
const CACHE_ENTRIES: usize = 512;

/// An answered plan, with how it was answered.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The plan as run (`as_of` filled in).
    pub plan: Plan,
    /// The plan in words ([`super::reading::describe`]).
    pub reading: String,
    pub source: Source,
    /// The period's first and last day, when the plan named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<[NaiveDate; 2]>,
    pub sql: String,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Value>>,
    pub cache_hit: bool,
}

/// Why a plan was not answered.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("invalid plan: {0}")]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Answers plans against one store; cheap to share (`Arc` inside).
#[derive(Debug, Clone)]
pub struct Engine {
    store: Store,
    brands: Option<Arc<BrandMatcher>>,
    cache: Arc<Mutex<HashMap<String, (Instant, Answer)>>>,
}

impl Engine {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            brands: None,
            cache: Arc::default(),
        }
    }

    /// Brand names in questions are read with `matcher`.
    pub fn with_brands(mut self, matcher: Arc<BrandMatcher>) -> Self {
        self.brands = Some(matcher);
        self
    }

    pub fn brands(&self) -> Option<&BrandMatcher> {
        self.brands.as_deref()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Answers `plan`, auditing the call with `question` (the words it was read from, if any).
    pub async fn answer(&self, plan: &Plan, question: Option<&str>) -> Result<Answer, AnswerError> {
        let started = Instant::now();
        let result = self.answer_unaudited(plan).await;
        let plan_json = serde_json::to_string(plan).ok();
        let (sql, rows, hit, error) = match &result {
            Ok(a) => (Some(a.sql.as_str()), Some(a.rows.len()), a.cache_hit, None),
            Err(e) => (None, None, false, Some(e.to_string())),
        };
        self.store
            .audit_sql_logged(&SqlAuditEntry {
                question,
                plan: plan_json.as_deref(),
                sql_text: sql,
                duration: started.elapsed(),
                row_count: rows.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
                cache_hit: hit,
                error: error.as_deref(),
                created_at: Utc::now(),
            })
            .await;
        result
    }

    /// Records a refusal (a question not turned into any SQL).
    pub async fn audit_refusal(&self, question: &str, reason: &str, duration: Duration) {
        self.store
            .audit_sql_logged(&SqlAuditEntry {
                question: Some(question),
                plan: None,
                sql_text: None,
                duration,
                row_count: None,
                cache_hit: false,
                error: Some(reason),
                created_at: Utc::now(),
            })
            .await;
    }

    async fn answer_unaudited(&self, plan: &Plan) -> Result<Answer, AnswerError> {
        plan.validate()?;
        let mut plan = plan.clone();
        let as_of = *plan.as_of.get_or_insert_with(manila_today);
        let query = generate(&plan, self.store.backend(), as_of);
        let key = format!(
            "{}|{}",
            serde_json::to_string(&plan).unwrap_or_default(),
            self.data_version().await?
        );
        if let Some(mut hit) = self.cached(&key) {
            hit.cache_hit = true;
            return Ok(hit);
        }
        let rows = self.run(&query).await?;
        let period = query.period.map(|(from, to)| [from, to]);
        let answer = Answer {
            reading: super::reading::describe(&plan, period),
            period,
            source: query.source,
            columns: query.columns.iter().map(|c| c.name()).collect(),
            rows: rows
                .iter()
                .map(|r| shape(r, &query.columns))
                .collect::<Result<_, _>>()?,
            sql: query.sql,
            plan,
            cache_hit: false,
        };
        self.remember(key, &answer);
        Ok(answer)
    }

    /// Runs a generated query read-only, within the timeout and the row cap.
    pub async fn run(&self, query: &Query) -> Result<Vec<Row>, StoreError> {
        let limits = ReadLimits {
            timeout: STATEMENT_TIMEOUT,
            max_rows: MAX_LIMIT as usize,
        };
        self.store
            .read_only_query(&query.sql, &query.args(), limits)
            .await
    }

    /// Changes whenever silver or gold does: silver's newest bronze row and the newest gold
    /// and customer rows (a rebuild inserts new ids). Each is one index probe.
    async fn data_version(&self) -> Result<String, StoreError> {
        let sql = "SELECT (SELECT max(bronze_id) FROM silver.transactions_cleaned), \
                   (SELECT max(id) FROM scout.scout_gold_transactions), \
                   (SELECT max(id) FROM gold.customer_analytics), \
                   (SELECT count(*) FROM silver.transactions_cleaned WHERE bronze_id = \
                     (SELECT max(bronze_id) FROM silver.transactions_cleaned))";
        let limits = ReadLimits {
            timeout: STATEMENT_TIMEOUT,
            max_rows: 1,
        };
        let rows = self.store.read_only_query(sql, &[], limits).await?;
        let row = rows.first();
        let mut parts = Vec::new();
        for i in 0..4 {
            parts.push(match row {
                Some(r) => r.opt_int(i)?.unwrap_or(0),
                None => 0,
            });
        }
        Ok(format!("{parts:?}"))
    }

    fn cached(&self, key: &str) -> Option<Answer> {
        let cache = self.cache.lock().ok()?;
        let (at, answer) = cache.get(key)?;
        (at.elapsed() < CACHE_TTL).then(|| answer.clone())
    }

    fn remember(&self, key: String, answer: &Answer) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_ENTRIES {
                cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
                if cache.len() >= CACHE_ENTRIES {
                    cache.clear();
                }
            }
            cache.insert(key, (Instant::now(), answer.clone()));
        }
    }
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

/// One row as JSON values: dimensions as text, revenue in pesos (from exact centavos), counts
/// as integers, units and averages rounded (units to 4 places, pesos to 2).
fn shape(row: &Row, columns: &[Output]) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        let value = match c {
            Output::Dimension(_) => row.opt_text(i)?.map(Value::from),
            Output::Measure(Measure::Revenue) => row
                .opt_int(i)?
                .map(|c| Value::from(round(c as f64 / 100.0, 2))),
            Output::Measure(Measure::Transactions | Measure::UniqueCustomers) => {
                row.opt_int(i)?.map(Value::from)
            }
            Output::Measure(Measure::Units | Measure::AvgBasketUnits) => {
                row.opt_float(i)?.map(|v| Value::from(round(v, 4)))
            }
            Output::Measure(Measure::AvgBasketPesos | Measure::RevenueShare) => {
                row.opt_float(i)?.map(|v| Value::from(round(v, 2)))
            }
        };
        out.push(value.unwrap_or(Value::Null));
    }
    Ok(out)
}

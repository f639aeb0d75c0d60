//! The brand loop's side of the store: the entries operators taught the matcher
//! (`metadata.brand_dictionary`), silver's unresolved names, and the re-queueing of the bronze
//! rows behind a name. Written once for both backends.

use chrono::{DateTime, Utc};

use super::Store;
use super::error::StoreError;
use super::sql::Arg;
use crate::brands::TaughtEntry;

/// `name` folded for uniqueness: lower case, words separated by single spaces.
fn form(name: &str) -> String {
    name.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A name silver could not give a brand, with what it weighs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnresolvedName {
    /// The product name as the items carry it (the device's brand text or SKU when the item has
    /// no product name).
    pub name: String,
    /// The device's brand text, when it sent one.
    pub device_brand: Option<String>,
    pub items: i64,
    pub revenue_centavos: i64,
    pub stores: i64,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// A distinct (product name, device brand) pair in silver that the matcher resolved weakly or
/// not at all, with its current brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakName {
    pub product_name: Option<String>,
    pub device_brand: Option<String>,
    pub brand_name: Option<String>,
}

impl Store {
    /// Every taught entry, oldest first.
    pub async fn taught_entries(&self) -> Result<Vec<TaughtEntry>, StoreError> {
        let rows = self
            .db
            .fetch(
                "SELECT kind, name, brand, category, company FROM metadata.brand_dictionary \
                 ORDER BY id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let name = r.text(1)?;
                Ok(if r.text(0)? == "alias" {
                    TaughtEntry::Alias {
                        name,
                        brand: r.text(2)?,
                    }
                } else {
                    TaughtEntry::Brand {
                        name,
                        category: r.opt_text(3)?.unwrap_or_default(),
                        company: r.opt_text(4)?.unwrap_or_default(),
                    }
                })
            })
            .collect()
    }

    /// A value that changes whenever an entry is taught (added or replaced): collectors compare
    /// it to know when to reload their matcher.
    pub async fn taught_version(&self) -> Result<String, StoreError> {
        let row = self
            .db
            .fetch_one(
                "SELECT count(*), coalesce(max(id), 0), max(created_at) \
                 FROM metadata.brand_dictionary",
                &[],
            )
            .await?;
        let newest = row.opt_time(2)?.map(|t| t.timestamp_micros()).unwrap_or(0);
        Ok(format!("{}:{}:{newest}", row.int(0)?, row.int(1)?))
    }

    /// Writes taught entries in one transaction (an entry for a form taught before replaces
    /// it), then queues the bronze rows behind `requeue` (see [`Store::requeue_names`]).
    /// Returns the number of bronze rows queued.
    pub async fn teach(
        &self,
        entries: &[TaughtEntry],
        requeue: &[WeakName],
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.begin().await?;
        let result = async {
            for e in entries {
                let (category, company) = match e {
                    TaughtEntry::Brand {
                        category, company, ..
                    } => (Some(category.as_str()), Some(company.as_str())),
                    TaughtEntry::Alias { .. } => (None, None),
                };
                let folded = form(e.name());
                tx.execute(
                    "INSERT INTO metadata.brand_dictionary (kind, name, form, brand, category, \
                     company, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (kind, form) DO UPDATE SET name = excluded.name, \
                     brand = excluded.brand, category = excluded.category, \
                     company = excluded.company, created_at = excluded.created_at",
                    &[
                        Arg::Text(Some(e.kind())),
                        Arg::Text(Some(e.name())),
                        Arg::Text(Some(&folded)),
                        Arg::Text(Some(e.brand())),
                        Arg::Text(category),
                        Arg::Text(company),
                        Arg::Time(Some(at)),
                    ],
                )
                .await?;
            }
            let mut queued = 0;
            for name in requeue {
                queued += tx.execute(REQUEUE, &requeue_args(name)).await?;
            }
            Ok(queued)
        }
        .await;
        tx.finish(result).await
    }

    /// Queues for silver the bronze rows whose items carry one of these (product name, device
    /// brand) pairs with the brand silver gave them, so the next silver pass rebuilds exactly
    /// those transactions (and gold exactly their partitions). Returns the number queued.
    pub async fn requeue_names(&self, names: &[WeakName]) -> Result<u64, StoreError> {
        let mut queued = 0;
        for name in names {
            queued += self.db.execute(REQUEUE, &requeue_args(name)).await?;
        }
        Ok(queued)
    }

    /// The distinct names silver resolved to no brand, or only by a fuzzy or company match (the
    /// rows a taught entry can change).
    pub async fn weak_names(&self) -> Result<Vec<WeakName>, StoreError> {
        let rows = self
            .db
            .fetch(
                "SELECT DISTINCT product_name, device_brand, brand_name \
                 FROM silver.transactions_cleaned \
                 WHERE brand_name IS NULL OR brand_method IN ('fuzzy', 'company')",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(WeakName {
                    product_name: r.opt_text(0)?,
                    device_brand: r.opt_text(1)?,
                    brand_name: r.opt_text(2)?,
                })
            })
            .collect()
    }

    /// Silver's names without a brand since `since`, by revenue then items, at most `limit`.
    pub async fn unresolved_names(
        &self,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<UnresolvedName>, StoreError> {
        let rows = self
            .db
            .fetch(
                "SELECT coalesce(product_name, device_brand, sku, '') AS name, device_brand, \
                 count(*), sum(amount_centavos)::bigint, count(DISTINCT store_id), \
                 min(\"timestamp\"), max(\"timestamp\") FROM silver.transactions_cleaned \
                 WHERE brand_name IS NULL AND \"timestamp\" >= $1 \
                 GROUP BY coalesce(product_name, device_brand, sku, ''), device_brand \
                 ORDER BY 4 DESC, 3 DESC, 1 LIMIT $2",
                &[Arg::Time(Some(since)), Arg::Int(Some(limit))],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(UnresolvedName {
                    name: r.text(0)?,
                    device_brand: r.opt_text(1)?,
                    items: r.int(2)?,
                    revenue_centavos: r.opt_int(3)?.unwrap_or(0),
                    stores: r.int(4)?,
                    first_seen: r.opt_time(5)?,
                    last_seen: r.opt_time(6)?,
                })
            })
            .collect()
    }

    /// Silver's revenue since `since` (centavos): all of it, and the part with no brand.
    pub async fn unresolved_revenue(&self, since: DateTime<Utc>) -> Result<(i64, i64), StoreError> {
        let row = self
            .db
            .fetch_one(
                "SELECT coalesce(sum(amount_centavos), 0)::bigint, \
                 coalesce(sum(CASE WHEN brand_name IS NULL THEN amount_centavos ELSE 0 END), \
                 0)::bigint \
                 FROM silver.transactions_cleaned WHERE \"timestamp\" >= $1",
                &[Arg::Time(Some(since))],
            )
            .await?;
        Ok((row.int(0)?, row.int(1)?))
    }
}

/// Queues the bronze rows of one weak name (`IS NOT DISTINCT FROM`: a NULL product name or
/// device brand is a value here).
const REQUEUE: &str = "INSERT INTO metadata.silver_pending (bronze_id) \
     SELECT DISTINCT bronze_id FROM silver.transactions_cleaned \
     WHERE product_name IS NOT DISTINCT FROM $1 AND device_brand IS NOT DISTINCT FROM $2 \
     AND brand_name IS NOT DISTINCT FROM $3 \
     ON CONFLICT (bronze_id) DO NOTHING";

fn requeue_args(name: &WeakName) -> [Arg<'_>; 3] {
    [
        Arg::Text(name.product_name.as_deref()),
        Arg::Text(name.device_brand.as_deref()),
        Arg::Text(name.brand_name.as_deref()),
    ]
}

//! The brand loop: names silver could not resolve, as an operator's work queue, and the entries
//! an operator teaches to close it, applied to exactly the rows they change.
//!
//! **Enters:** silver's items without a brand (`brand_name IS NULL`), and an entry from
//! `scout-collector brands alias NAME --brand BRAND` or `brands add NAME --category … --company …`.
//!
//! **Leaves:** [`UnresolvedReport`] (names by revenue and items, with the revenue share that has
//! no brand and "did you mean" suggestions per name); a taught entry in
//! `metadata.brand_dictionary`, which every collector sharing the database merges over its
//! dictionary from its next silver batch on (`pipeline/dictionary.rs`); and a [`TeachReport`] of
//! the targeted re-process.
//!
//! **Guarantees:**
//! - An entry is checked before anything is written: the brand an alias names must exist, a new
//!   brand needs a known category and a company, and the merged dictionary must load.
//! - The re-process is targeted: only the bronze rows whose items carry a name the new entry
//!   resolves differently (today unresolved, or resolved only by a fuzzy or company match) are
//!   queued for silver, in the transaction that writes the entry; silver rebuilds those
//!   transactions and gold exactly the (day, store) partitions they belong to. Rows resolved by
//!   name or alias are left alone: a taught entry fills gaps, it does not re-decide what the
//!   dictionary already says.

use std::path::{Path, PathBuf};
use std::time::Instant;

mod command;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::brands::{BrandKind, BrandMatcher, Category, Suggestion, TaughtEntry};
use crate::pipeline::{Pipeline, PipelineOptions};
use crate::store::{AuditEntry, Store, UnresolvedName, WeakName};

pub use command::{BrandsArgs, BrandsCommand, run as brands_command, unresolved_table};

/// The operation's name in `metadata.function_audit`.
pub const AUDIT_FUNCTION: &str = "brand-dictionary";
/// Suggestions listed per unresolved name.
const SUGGESTIONS: usize = 3;

/// One unresolved name in the queue.
#[derive(Debug, Clone, Serialize)]
pub struct UnresolvedEntry {
    #[serde(flatten)]
    pub name: UnresolvedName,
    pub suggestions: Vec<Suggestion>,
}

/// The queue of names without a brand.
#[derive(Debug, Clone, Serialize)]
pub struct UnresolvedReport {
    pub since: DateTime<Utc>,
    /// Silver's revenue since `since`, and the part of it with no brand (centavos).
    pub revenue_centavos: i64,
    pub unresolved_revenue_centavos: i64,
    /// `unresolved / revenue`, 0 when there is no revenue.
    pub unresolved_share: f64,
    pub names: Vec<UnresolvedEntry>,
}

/// The matcher over the shipped dictionary, the operator file `brands_file` and the entries
/// taught so far (what every command that reads brands uses; a running pipeline reloads them).
pub async fn matcher(store: &Store, brands_file: Option<&Path>) -> anyhow::Result<BrandMatcher> {
    let taught = store.taught_entries().await?;
    BrandMatcher::load_with(brands_file, &taught).context("Failed to load the brand dictionary")
}

/// The unresolved names of the last `days` days, by revenue, at most `limit`, with suggestions
/// from `matcher`.
pub async fn unresolved(
    store: &Store,
    matcher: &BrandMatcher,
    days: u32,
    limit: i64,
) -> anyhow::Result<UnresolvedReport> {
    let since = Utc::now() - Duration::days(i64::from(days));
    let (revenue, unresolved_revenue) = store.unresolved_revenue(since).await?;
    let names = store
        .unresolved_names(since, limit)
        .await?
        .into_iter()
        .map(|n| {
            let text = match &n.device_brand {
                Some(b) if *b != n.name => format!("{b} {}", n.name),
                _ => n.name.clone(),
            };
            UnresolvedEntry {
                suggestions: matcher.suggest(&text, SUGGESTIONS),
                name: n,
            }
        })
        .collect();
    Ok(UnresolvedReport {
        since,
        revenue_centavos: revenue,
        unresolved_revenue_centavos: unresolved_revenue,
        unresolved_share: if revenue > 0 {
            unresolved_revenue as f64 / revenue as f64
        } else {
            0.0
        },
        names,
    })
}

/// A name whose brand the taught entry changes.
#[derive(Debug, Clone, Serialize)]
pub struct ChangedName {
    pub product_name: Option<String>,
    pub device_brand: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What teaching one entry did.
#[derive(Debug, Clone, Serialize)]
pub struct TeachReport {
    pub kind: &'static str,
    pub name: String,
    pub brand: String,
    /// Distinct (product name, device brand) pairs in silver whose brand changes.
    pub changed: Vec<ChangedName>,
    /// Bronze rows queued for silver (the transactions holding those names).
    pub bronze_rows_queued: u64,
    pub silver_rows: u64,
    /// Gold partitions (business day × store) rebuilt.
    pub gold_partitions: u64,
}

/// Checks `entry` against the dictionary in use (`brands_file` plus what was taught before),
/// writes it, queues the bronze rows it changes and runs the pipeline over them.
pub async fn teach(
    store: &Store,
    brands_file: Option<PathBuf>,
    entry: TaughtEntry,
) -> anyhow::Result<TeachReport> {
    let started = Instant::now();
    let result = teach_inner(store, brands_file, entry).await;
    let error = result.as_ref().err().map(|e| format!("{e:#}"));
    let details = result
        .as_ref()
        .ok()
        .and_then(|r| serde_json::to_string(r).ok());
    store
        .audit_logged(&AuditEntry {
            error: error.as_deref(),
            row_count: result
                .as_ref()
                .ok()
                .map(|r| i64::try_from(r.silver_rows).unwrap_or(i64::MAX)),
            details: details.as_deref(),
            ..AuditEntry::ended(AUDIT_FUNCTION, started)
        })
        .await;
    result
}

async fn teach_inner(
    store: &Store,
    brands_file: Option<PathBuf>,
    entry: TaughtEntry,
) -> anyhow::Result<TeachReport> {
    let mut taught = store.taught_entries().await?;
    let before = BrandMatcher::load_with(brands_file.as_deref(), &taught)
        .context("Failed to load the brand dictionary in use")?;
    let entry = checked(&before, entry)?;
    taught.retain(|e| !(e.kind() == entry.kind() && same_form(e.name(), entry.name())));
    taught.push(entry.clone());
    let after = BrandMatcher::load_with(brands_file.as_deref(), &taught)
        .context("The dictionary does not load with this entry; nothing was written")?;
    if after.detect(entry.name()).map(|d| d.brand.name.as_str()) != Some(entry.brand()) {
        bail!(
            "{:?} would still not resolve to {} (a word the matcher ignores, or a longer form \
             of another brand); nothing was written",
            entry.name(),
            entry.brand()
        );
    }
    let changed: Vec<(WeakName, Option<String>)> = store
        .weak_names()
        .await?
        .into_iter()
        .filter_map(|w| {
            let now = after
                .detect_item(w.device_brand.as_deref(), w.product_name.as_deref())
                .map(|d| d.brand.name.clone());
            (now != w.brand_name).then_some((w, now))
        })
        .collect();
    let names: Vec<WeakName> = changed.iter().map(|(w, _)| w.clone()).collect();
    let queued = store
        .teach(std::slice::from_ref(&entry), &names, Utc::now())
        .await?;
    let pipeline =
        Pipeline::with_dictionary(store.clone(), brands_file, PipelineOptions::default()).await?;
    let pass = pipeline.catch_up().await?;
    Ok(TeachReport {
        kind: entry.kind(),
        name: entry.name().to_owned(),
        brand: entry.brand().to_owned(),
        changed: changed
            .into_iter()
            .map(|(w, after)| ChangedName {
                product_name: w.product_name,
                device_brand: w.device_brand,
                before: w.brand_name,
                after,
            })
            .collect(),
        bronze_rows_queued: queued,
        silver_rows: pass.silver.silver_rows,
        gold_partitions: pass.gold.partitions,
    })
}

/// The entry with its brand's canonical name, or why it cannot be taught.
fn checked(matcher: &BrandMatcher, entry: TaughtEntry) -> anyhow::Result<TaughtEntry> {
    let name = entry
        .name()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if name.is_empty() || name.chars().count() > 128 {
        bail!("the name must have 1 to 128 characters");
    }
    if matcher.content_words(&name) == 0 {
        bail!(
            "{name:?} has no word the matcher can match on (numbers, pack sizes and words such \
             as \"po\" or \"pabili\" are ignored); nothing was written"
        );
    }
    Ok(match entry {
        TaughtEntry::Alias { brand, .. } => {
            let Some(known) = matcher.brand(&brand).filter(|b| b.kind == BrandKind::Brand) else {
                let hint = matcher
                    .suggest(&brand, 1)
                    .first()
                    .map(|s| format!(" (did you mean {:?}?)", s.brand))
                    .unwrap_or_default();
                bail!(
                    "no brand named {brand:?} in the dictionary{hint}; add it first with \
                     `scout-collector brands add`"
                );
            };
            TaughtEntry::Alias {
                name,
                brand: known.name.clone(),
            }
        }
        TaughtEntry::Brand {
            category, company, ..
        } => {
            let Some(category) = Category::parse(&category) else {
                let all: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                bail!("unknown category {category:?}; one of: {}", all.join(", "));
            };
            let company = company.split_whitespace().collect::<Vec<_>>().join(" ");
            if company.is_empty() || company.chars().count() > 128 {
                bail!("the company must have 1 to 128 characters");
            }
            TaughtEntry::Brand {
                name,
                category: category.as_str().to_owned(),
                company,
            }
        }
    })
}

fn same_form(a: &str, b: &str) -> bool {
    let fold = |s: &str| {
        s.split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
    };
    fold(a) == fold(b)
}

//! The matcher silver builds with, kept current with what operators teach: a pipeline made by
//! [`Pipeline::with_dictionary`] checks `metadata.brand_dictionary`'s version before each silver
//! batch and reloads the dictionary when it changed, so every collector sharing a database
//! resolves a taught name from its next batch on, without a restart.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::brands::BrandMatcher;
use crate::store::{Store, StoreError};

/// Where the matcher comes from.
#[derive(Debug)]
pub(super) struct LiveMatcher {
    /// The operator file (`--brands-file`), when reloading; `None` with a fixed matcher.
    source: Option<Option<PathBuf>>,
    /// The taught entries' version the matcher was built from, and the matcher.
    current: RwLock<(String, Arc<BrandMatcher>)>,
}

impl LiveMatcher {
    /// A matcher that never changes.
    pub(super) fn fixed(matcher: Arc<BrandMatcher>) -> Self {
        Self {
            source: None,
            current: RwLock::new((String::new(), matcher)),
        }
    }

    /// The shipped dictionary, the operator `file` and the taught entries, reloaded when the
    /// taught entries change.
    pub(super) async fn load(store: &Store, file: Option<PathBuf>) -> anyhow::Result<Self> {
        let version = store.taught_version().await?;
        let taught = store.taught_entries().await?;
        let matcher = BrandMatcher::load_with(file.as_deref(), &taught)?;
        Ok(Self {
            source: Some(file),
            current: RwLock::new((version, Arc::new(matcher))),
        })
    }

    /// The matcher to build with now (reloaded first when the taught entries changed). A
    /// dictionary that no longer loads (an operator file edited badly) keeps the matcher in
    /// use, with an error in the log.
    pub(super) async fn get(&self, store: &Store) -> Result<Arc<BrandMatcher>, StoreError> {
        let Some(file) = &self.source else {
            return Ok(self.snapshot().1);
        };
        let version = store.taught_version().await?;
        let (known, matcher) = self.snapshot();
        if version == known {
            return Ok(matcher);
        }
        let taught = store.taught_entries().await?;
        let file = file.clone();
        let loaded =
            tokio::task::spawn_blocking(move || BrandMatcher::load_with(file.as_deref(), &taught))
                .await;
        match loaded {
            Ok(Ok(fresh)) => {
                let fresh = Arc::new(fresh);
                tracing::info!(
                    brands = fresh.stats().brands,
                    aliases = fresh.stats().aliases,
                    "brand dictionary reloaded: operators taught new entries"
                );
                *self.current.write().unwrap_or_else(|p| p.into_inner()) =
                    (version, Arc::clone(&fresh));
                Ok(fresh)
            }
            Ok(Err(e)) => Ok(keep(matcher, &e)),
            Err(e) => Ok(keep(matcher, &e)),
        }
    }

    pub(super) fn snapshot(&self) -> (String, Arc<BrandMatcher>) {
        let guard = self.current.read().unwrap_or_else(|p| p.into_inner());
        (guard.0.clone(), Arc::clone(&guard.1))
    }
}

/// The matcher in use, after a reload that failed.
fn keep(matcher: Arc<BrandMatcher>, error: &dyn std::fmt::Display) -> Arc<BrandMatcher> {
    tracing::error!(%error, "brand dictionary reload failed; keeping the one in use");
    matcher
}

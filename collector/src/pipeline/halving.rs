//! Isolating a failed batch in halves (see the pipeline's docs).

use crate::store::StoreError;

/// Isolating a failed batch: its claimed keys (bronze ids, gold partitions) are retried in
/// halves, by exactly those keys, until every part has committed or is one key failing alone.
/// The caller runs each part ([`Halving::next_part`]) as a batch and reports what it claimed and
/// how it ended ([`Halving::record`]); a transient error ends the isolation (the pass fails and is
/// retried with backoff).
///
/// [`Halving::finish`] names the keys to set aside: each that failed alone because the database
/// refused its data, and each that failed alone with another error when some of the claimed keys
/// committed (so the database works for the others). When nothing committed, such an error is the
/// system's, not a key's: it is returned instead, and those keys stay pending.
#[derive(Debug)]
pub(super) struct Halving<K> {
    todo: Vec<Vec<K>>,
    committed: bool,
    refused: Vec<(K, StoreError)>,
    other: Vec<(K, StoreError)>,
}

impl<K> Halving<K> {
    pub(super) fn new(claimed: Vec<K>) -> Self {
        Self {
            todo: vec![claimed],
            committed: false,
            refused: Vec::new(),
            other: Vec::new(),
        }
    }

    /// The next part to run as a batch of its own.
    pub(super) fn next_part(&mut self) -> Option<Vec<K>> {
        self.todo.pop()
    }

    /// Records how a part ended: `claimed` is what its batch claimed. Returns the batch when it
    /// committed.
    pub(super) fn record<T>(
        &mut self,
        mut claimed: Vec<K>,
        result: Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        match result {
            Ok(batch) => {
                self.committed |= !claimed.is_empty();
                Ok(Some(batch))
            }
            Err(e) if e.is_transient() => Err(e),
            // It failed before claiming anything: no key to blame.
            Err(e) if claimed.is_empty() => Err(e),
            Err(e) if claimed.len() == 1 => {
                let key = claimed.swap_remove(0);
                if e.is_refused() {
                    self.refused.push((key, e));
                } else {
                    self.other.push((key, e));
                }
                Ok(None)
            }
            Err(e) => {
                tracing::debug!(
                    error = %e,
                    keys = claimed.len(),
                    "isolating: part failed, halving it"
                );
                let second = claimed.split_off(claimed.len() / 2);
                // The first half runs next.
                self.todo.push(second);
                self.todo.push(claimed);
                Ok(None)
            }
        }
    }

    /// The keys to set aside, and the system's error when nothing committed and a key failed
    /// alone for a reason the database does not put on the data.
    pub(super) fn finish(self) -> (Vec<(K, StoreError)>, Option<StoreError>) {
        let mut failed = self.refused;
        if self.committed {
            failed.extend(self.other);
            (failed, None)
        } else {
            (failed, self.other.into_iter().next().map(|(_, e)| e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> StoreError {
        StoreError::Refused(sqlx::Error::Protocol("value out of range".into()))
    }

    fn broken() -> StoreError {
        StoreError::Database(sqlx::Error::Protocol("no such column".into()))
    }

    /// Runs a halving over `keys` against a fake database in which a batch fails with
    /// `fault(batch)`. Returns the keys committed (in order), the keys set aside, the systemic
    /// error's text and the number of batches run.
    fn halve(
        keys: Vec<u32>,
        fault: impl Fn(&[u32]) -> Option<StoreError>,
    ) -> (Vec<u32>, Vec<u32>, Option<String>, usize) {
        let mut halves = Halving::new(keys);
        let mut committed = Vec::new();
        let mut batches = 0;
        while let Some(part) = halves.next_part() {
            batches += 1;
            let result = match fault(&part) {
                Some(e) => Err(e),
                None => Ok(part.clone()),
            };
            if let Some(done) = halves.record(part, result).unwrap() {
                committed.extend(done);
            }
        }
        let (failed, systemic) = halves.finish();
        let failed = failed.into_iter().map(|(k, _)| k).collect();
        (committed, failed, systemic.map(|e| e.to_string()), batches)
    }

    #[test]
    fn a_refused_key_is_found_and_the_rest_commit_once() {
        let (committed, failed, systemic, batches) =
            halve((0..500).collect(), |b| b.contains(&137).then(refused));
        assert_eq!(failed, [137]);
        assert_eq!(systemic, None);
        let expected: Vec<u32> = (0..500).filter(|k| *k != 137).collect();
        assert_eq!(committed, expected, "every other key once, in order");
        // About two batches per halving level: 500 keys take 9 levels.
        assert!(batches <= 2 * 10, "{batches} batches");
    }

    #[test]
    fn several_bad_keys_are_each_set_aside() {
        let bad = [0, 1, 250, 499];
        let (committed, failed, systemic, _) = halve((0..500).collect(), |b| {
            b.iter().any(|k| bad.contains(k)).then(refused)
        });
        assert_eq!(failed, bad);
        assert_eq!(systemic, None);
        assert_eq!(committed.len(), 496);
    }

    #[test]
    fn another_error_on_one_key_is_set_aside_when_the_others_commit() {
        let (committed, failed, systemic, _) =
            halve((0..8).collect(), |b| b.contains(&3).then(broken));
        assert_eq!(failed, [3]);
        assert_eq!(systemic, None);
        assert_eq!(committed, [0, 1, 2, 4, 5, 6, 7]);
    }

    #[test]
    fn an_error_every_key_meets_is_the_systems_and_sets_nothing_aside() {
        let (committed, failed, systemic, _) = halve((0..8).collect(), |_| Some(broken()));
        assert!(committed.is_empty());
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(
            systemic.as_deref(),
            Some("database error: encountered unexpected or invalid data: no such column")
        );
        // A single key alone cannot show it is the key's fault either.
        let (_, failed, systemic, _) = halve(vec![9], |_| Some(broken()));
        assert!(failed.is_empty());
        assert!(systemic.is_some());
        // But the database refusing the data is the data's fault, alone or not.
        let (_, failed, systemic, _) = halve(vec![9], |_| Some(refused()));
        assert_eq!((failed, systemic), (vec![9], None));
    }

    #[test]
    fn a_transient_error_ends_the_isolation() {
        let mut halves = Halving::new(vec![1, 2, 3]);
        let part = halves.next_part().unwrap();
        let unavailable = StoreError::Unavailable(sqlx::Error::PoolTimedOut);
        let result: Result<(), _> = Err(unavailable);
        assert!(halves.record(part, result).unwrap_err().is_transient());
    }

    #[test]
    fn keys_another_worker_took_are_left_to_it() {
        // The batch for [0, 1, 2, 3] claims only [2, 3] (another worker holds 0 and 1) and
        // fails: only what it claimed is halved.
        let mut halves = Halving::new(vec![0, 1, 2, 3]);
        let part = halves.next_part().unwrap();
        assert_eq!(part, [0, 1, 2, 3]);
        assert_eq!(
            halves.record::<()>(vec![2, 3], Err(refused())).unwrap(),
            None
        );
        assert_eq!(halves.next_part(), Some(vec![2]));
        assert_eq!(halves.record::<()>(vec![], Ok(())).unwrap(), Some(()));
        assert_eq!(halves.next_part(), Some(vec![3]));
        assert_eq!(halves.record::<()>(vec![3], Err(refused())).unwrap(), None);
        assert_eq!(halves.next_part(), None);
        let (failed, systemic) = halves.finish();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, 3);
        assert!(systemic.is_none());
    }
}

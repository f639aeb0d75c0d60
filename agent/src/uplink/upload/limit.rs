//! The batch size: `batch_max_records`, halved when the collector answers 413 (down to one
//! record), and doubled back after [`REGROW_AFTER`] successful batches at the smaller size.

/// Successful batches at a reduced (after 413) limit before the limit doubles again.
const REGROW_AFTER: u32 = 16;

/// Records per batch: `batch_max_records`, halved on 413, growing back after successes.
#[derive(Debug)]
pub(super) struct BatchLimit {
    max: usize,
    pub(super) current: usize,
    successes: u32,
}

impl BatchLimit {
    pub(super) fn new(max: usize) -> Self {
        Self {
            max,
            current: max,
            successes: 0,
        }
    }

    pub(super) fn shrink(&mut self, sent: usize) {
        self.current = (sent / 2).clamp(1, self.max);
        self.successes = 0;
    }

    pub(super) fn on_success(&mut self) {
        if self.current >= self.max {
            return;
        }
        self.successes += 1;
        if self.successes >= REGROW_AFTER {
            self.current = self.current.saturating_mul(2).min(self.max);
            self.successes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_limit_halves_to_one_and_regrows() {
        let mut limit = BatchLimit::new(500);
        limit.shrink(500);
        assert_eq!(limit.current, 250);
        limit.shrink(3);
        assert_eq!(limit.current, 1);
        limit.shrink(1);
        assert_eq!(limit.current, 1);
        for _ in 0..REGROW_AFTER - 1 {
            limit.on_success();
        }
        assert_eq!(limit.current, 1);
        limit.on_success();
        assert_eq!(limit.current, 2);
        for _ in 0..REGROW_AFTER * 20 {
            limit.on_success();
        }
        assert_eq!(limit.current, 500);
    }
}

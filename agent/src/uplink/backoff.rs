//! Retry delays: capped exponential backoff with *full* jitter, and `Retry-After` parsing.
//!
//! The exponential ceilings come from `backon`'s [`ExponentialBuilder`] (factor 2, from
//! `backoff_initial_ms` up to `backoff_max_ms`, no attempt limit: the uplink retries forever),
//! used without its own jitter: `backon`'s `with_jitter` *adds* a random `[0, d)` to the delay
//! `d`, which gives delays in `[d, 2d)` that can exceed the cap, not full jitter. The delay used
//! is instead drawn uniformly from `[0, ceiling]` ("full jitter", AWS Architecture Blog,
//! "Exponential Backoff and Jitter"), so a fleet of devices that lost the collector together does
//! not come back in lock-step, and no delay ever exceeds `backoff_max_ms`.

use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};

/// Capped exponential backoff with full jitter. Each [`Backoff::next_delay`] is one retry.
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    ceilings: ExponentialBackoff,
    cap: Duration,
    rng: fastrand::Rng,
    /// The ceiling the last delay was drawn under (zero before the first).
    last_ceiling: Duration,
    attempts: u32,
}

impl Backoff {
    /// Delays from `initial` doubling up to `cap` (an `initial` above `cap` is lowered to it).
    /// `seed` makes the jitter reproducible (tests); `None` seeds from the OS.
    pub fn new(initial: Duration, cap: Duration, seed: Option<u64>) -> Self {
        let initial = initial.min(cap);
        let builder = ExponentialBuilder::new()
            .with_min_delay(initial)
            .with_max_delay(cap)
            .with_factor(2.0)
            .without_max_times();
        Self {
            ceilings: builder.build(),
            builder,
            cap,
            rng: seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed),
            last_ceiling: Duration::ZERO,
            attempts: 0,
        }
    }

    /// The next retry's delay: uniform in `[0, ceiling]`, where the ceiling doubles with every
    /// call from `initial` up to `cap`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.next_ceiling();
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.u64(0..=nanos))
    }

    /// The ceiling of the next delay, advancing the sequence (without drawing jitter).
    fn next_ceiling(&mut self) -> Duration {
        // `without_max_times` makes the iterator endless; the cap is the fallback regardless.
        let raw = self.ceilings.next().unwrap_or(self.cap);
        // backon multiplies in f32 seconds (100 ms doubles to 200.000003 ms); the settings are
        // whole milliseconds, so the ceilings are too.
        let ceiling = round_to_millis(raw).min(self.cap);
        self.last_ceiling = ceiling;
        self.attempts = self.attempts.saturating_add(1);
        ceiling
    }

    /// The ceiling the last delay was drawn under.
    pub fn last_ceiling(&self) -> Duration {
        self.last_ceiling
    }

    /// Delays drawn since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Back to `initial`, after a success. The random sequence continues.
    pub fn reset(&mut self) {
        self.ceilings = self.builder.build();
        self.last_ceiling = Duration::ZERO;
        self.attempts = 0;
    }

    /// The longest delay this backoff gives; also the cap applied to `Retry-After`.
    pub fn cap(&self) -> Duration {
        self.cap
    }
}

fn round_to_millis(d: Duration) -> Duration {
    let ms = d.as_nanos().saturating_add(500_000) / 1_000_000;
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// A `Retry-After` value: delay-seconds (`120`) or an HTTP date (`Wed, 21 Oct 2015 07:28:00
/// GMT`, and the two obsolete forms), as a delay from `now`. A date in the past is zero;
/// anything else unusable is `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate absurdly long digit strings instead of ignoring them; the caller caps.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn ceilings_double_up_to_the_cap_and_reset() {
        let mut b = Backoff::new(ms(500), ms(10_000), Some(1));
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            let d = b.next_delay();
            assert!(d <= b.last_ceiling(), "{d:?} > {:?}", b.last_ceiling());
            ceilings.push(b.last_ceiling().as_millis());
        }
        assert_eq!(
            ceilings,
            [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
        );
        assert_eq!(b.attempts(), 8);
        b.reset();
        b.next_delay();
        assert_eq!(b.last_ceiling(), ms(500));
        assert_eq!(b.attempts(), 1);
    }

    #[test]
    fn full_jitter_spreads_over_zero_to_ceiling() {
        let mut b = Backoff::new(ms(1000), ms(1000), Some(7));
        let draws: Vec<Duration> = (0..2000).map(|_| b.next_delay()).collect();
        assert!(draws.iter().all(|d| *d <= ms(1000)));
        // Uniform over [0, 1 s]: some draws land in each tenth, low ones included.
        for tenth in 0..10 {
            let (lo, hi) = (ms(tenth * 100), ms((tenth + 1) * 100));
            let n = draws.iter().filter(|d| **d >= lo && **d < hi).count();
            assert!(n > 100, "tenth {tenth}: only {n} of 2000 draws");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let mut a = Backoff::new(ms(100), ms(5000), Some(42));
        let mut b = Backoff::new(ms(100), ms(5000), Some(42));
        for _ in 0..20 {
            assert_eq!(a.next_delay(), b.next_delay());
        }
    }

    #[test]
    fn initial_above_cap_is_lowered() {
        let mut b = Backoff::new(ms(5000), ms(1000), Some(3));
        for _ in 0..5 {
            assert!(b.next_delay() <= ms(1000));
            assert_eq!(b.last_ceiling(), ms(1000));
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // The obsolete RFC 850 and asctime forms.
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:05 2015", now),
            Some(Duration::from_secs(5))
        );
        // In the past: retry now.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for bad in ["", "soon", "-5", "1.5", "12 s"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }
}

//! Benchmark sizes: full by default, small with `SCOUT_BENCH_QUICK=1`. CI runs every benchmark
//! that way to prove it still runs (its figures then mean little); full runs are manual. A
//! size's own variable (`SCOUT_BENCH_ROWS` …) wins over both.

/// Whether `SCOUT_BENCH_QUICK=1` asks for a quick run.
pub fn quick() -> bool {
    std::env::var("SCOUT_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// The number in `var` if it is set, else `quick_size` in quick mode, else `full`.
#[allow(dead_code)] // a bench without a size variable of its own switches on `quick()` alone
pub fn size(var: &str, full: usize, quick_size: usize) -> usize {
    match std::env::var(var).ok().and_then(|v| v.parse().ok()) {
        Some(n) => n,
        None if quick() => quick_size,
        None => full,
    }
}

/// Says so at the top of the output when the run is a quick one.
pub fn announce() {
    if quick() {
        println!("quick mode (SCOUT_BENCH_QUICK=1): small sizes; the figures are not comparable");
    }
}

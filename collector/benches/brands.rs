//! Brand matching benchmark: detections per second on one core, for product names and for
//! Taglish transcripts, plus the cost of building the matcher and how it scales over threads.
//!
//! `cargo bench -p scout-collector --bench brands` (env: `SCOUT_BENCH_NAMES`, default 200000
//! per measured pass, 5000 with `SCOUT_BENCH_QUICK=1`). The inputs are generated deterministically from the shipped dictionary:
//! product names with variants and pack sizes (one in ten misspelled, one in ten unbranded, so
//! the fuzzy step is exercised), and transcripts of one to three items among shop talk. Prints
//! figures; asserts that the matcher found what it should in most inputs and, in a full run,
//! that one core detects at least 500,000 product names per second with the shipped dictionary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use scout_collector::brands::{BrandMatcher, SHIPPED};

#[path = "support/quick.rs"]
mod quick;

/// Product names per second one core must detect with the shipped dictionary (issue 15).
const FLOOR_NAMES_PER_SEC: u64 = 500_000;

/// A small deterministic generator, so every run measures the same inputs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const VARIANTS: &[&str] = &[
    "Original",
    "Classic",
    "Cheese",
    "BBQ",
    "Kalamansi",
    "Chocolate",
    "Lemon",
    "Menthol",
    "Red",
    "Extra Hot",
    "Family Pack",
    "Twin Pack",
    "Sachet",
    "Regular",
    "Lite",
    "Fresh",
    "Sweet",
];
const SIZES: &[&str] = &[
    "1.5L", "290ml", "85g", "60g", "33g", "1L", "500ml", "20s", "x 3", "12 x 25g", "155g", "8ml",
    "",
];
const UNBRANDED: &[&str] = &[
    "Ice Candy 10s",
    "Pandesal 10pcs",
    "Asukal Pula 1kg",
    "Bigas Sinandomeng 1kg",
    "Itlog Medium",
    "Suka Tingi",
    "Toyo Tingi",
    "Mantika 1/4",
    "Kandila 6s",
    "Posporo",
    "Yelo 1kg",
    "Turon 2pcs",
    "Banana Cue",
    "Kakanin Assorted",
    "Fish Ball 10pcs",
    "Plastic Bag Medium",
];
const OPENERS: &[&str] = &[
    "pabili po ng",
    "ate, isang",
    "kuya pabili ng dalawang",
    "meron po ba kayong",
    "pahingi po ng",
    "isang",
    "tatlong",
    "ate pa-abot nga po yung",
];
const JOINERS: &[&str] = &["tsaka", "at saka", "tapos isang", "pati", "at"];
const CLOSERS: &[&str] = &[
    "po",
    "po salamat",
    "yung malamig po",
    "magkano po lahat",
    "pakilista na lang po",
    "gcash po bayad",
    "",
];
const NOISE: &[&str] = &[
    "salamat po ate",
    "magkano po lahat",
    "wala po akong barya",
    "babalik na lang po ako mamaya",
    "pakilista na lang po muna",
    "good morning po",
    "yung sukli ko po",
];

/// Every strong alias and name of the shipped dictionary, with its brand.
fn forms() -> Vec<String> {
    let doc: toml::Value = toml::from_str(SHIPPED).unwrap();
    let mut out = Vec::new();
    for brand in doc["brand"].as_array().unwrap() {
        out.push(brand["name"].as_str().unwrap().to_owned());
        if let Some(aliases) = brand.get("aliases").and_then(|a| a.as_array()) {
            out.extend(aliases.iter().filter_map(|a| a.as_str().map(str::to_owned)));
        }
    }
    out
}

fn misspell(rng: &mut Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    if chars.len() > 5 {
        let i = 1 + rng.below(chars.len() - 2);
        match rng.below(3) {
            0 => {
                chars.remove(i);
            }
            1 => chars.insert(i, chars[i]),
            _ => chars.swap(i, i + 1),
        }
    }
    chars.into_iter().collect()
}

fn product_names(n: usize, forms: &[String]) -> Vec<String> {
    let mut rng = Rng(0x5c0_u64 << 20 | 7);
    (0..n)
        .map(|i| match i % 10 {
            0 => rng.pick(UNBRANDED).to_string(),
            1 => {
                let form = rng.pick(forms).clone();
                format!(
                    "{} {} {}",
                    misspell(&mut rng, &form),
                    rng.pick(VARIANTS),
                    rng.pick(SIZES)
                )
            }
            _ => format!(
                "{} {} {}",
                rng.pick(forms),
                rng.pick(VARIANTS),
                rng.pick(SIZES)
            ),
        })
        .collect()
}

fn transcripts(n: usize, forms: &[String]) -> Vec<String> {
    let mut rng = Rng(0x7a61_0601);
    (0..n)
        .map(|i| {
            if i % 5 == 0 {
                return rng.pick(NOISE).to_string();
            }
            let mut t = format!("{} {}", rng.pick(OPENERS), rng.pick(forms).to_lowercase());
            for _ in 0..rng.below(3) {
                t.push(' ');
                t.push_str(rng.pick::<&str>(JOINERS));
                t.push(' ');
                t.push_str(&rng.pick(forms).to_lowercase());
            }
            t.push(' ');
            t.push_str(rng.pick::<&str>(CLOSERS));
            t
        })
        .collect()
}

/// Runs `f` over `inputs` (twice: a warm-up pass, then the measured one); returns names/s and
/// how many inputs gave at least one brand.
fn measure(inputs: &[String], f: impl Fn(&str) -> usize) -> (f64, usize) {
    for s in inputs.iter().take(inputs.len() / 10) {
        black_box(f(black_box(s)));
    }
    let start = Instant::now();
    let mut found = 0;
    for s in inputs {
        if black_box(f(black_box(s))) > 0 {
            found += 1;
        }
    }
    (inputs.len() as f64 / start.elapsed().as_secs_f64(), found)
}

fn main() {
    quick::announce();
    let n = quick::size("SCOUT_BENCH_NAMES", 200_000, 5_000);

    let start = Instant::now();
    let matcher = Arc::new(BrandMatcher::shipped().unwrap());
    let build = start.elapsed();
    let stats = matcher.stats();
    println!(
        "dictionary: {} brands, {} companies, {} aliases ({} weak), {} categories, {} fuzzy keys; \
         parsed and indexed in {:.1} ms",
        stats.brands,
        stats.companies,
        stats.aliases,
        stats.weak_aliases,
        stats.categories,
        stats.fuzzy_keys,
        build.as_secs_f64() * 1000.0
    );

    let forms = forms();
    let names = product_names(n, &forms);
    let talk = transcripts(n, &forms);
    let clean: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 >= 2)
        .map(|(_, s)| s.clone())
        .collect();
    let noisy: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 < 2)
        .map(|(_, s)| s.clone())
        .collect();

    let detect = |s: &str| usize::from(matcher.detect(s).is_some());
    let detect_all = |s: &str| matcher.detect_all(s).len();

    println!("one core (names/s):");
    let (rate, found) = measure(&names, detect);
    println!(
        "  product names, detect()          {:>10.0}/s   ({n} names, {:.1}% with a brand)",
        rate,
        100.0 * found as f64 / names.len() as f64
    );
    println!(
        "  names/s per core: {rate:.0} (floor {FLOOR_NAMES_PER_SEC}{})",
        if quick::quick() {
            ", not checked in quick mode"
        } else {
            ""
        }
    );
    if !quick::quick() {
        assert!(
            rate >= FLOOR_NAMES_PER_SEC as f64,
            "{rate:.0} product names/s on one core is below the floor of {FLOOR_NAMES_PER_SEC}"
        );
    }
    let (rate_clean, _) = measure(&clean, detect);
    println!("    of which clean names            {rate_clean:>10.0}/s");
    let (rate_noisy, _) = measure(&noisy, detect);
    println!("    misspelled or unbranded (fuzzy) {rate_noisy:>10.0}/s");
    let (rate_t, found_t) = measure(&talk, detect_all);
    println!(
        "  transcripts, detect_all()        {:>10.0}/s   ({n} transcripts, {:.1}% with a brand)",
        rate_t,
        100.0 * found_t as f64 / talk.len() as f64
    );
    let item = |s: &str| usize::from(matcher.detect_item(None, Some(s)).is_some());
    let (rate_i, _) = measure(&names, item);
    println!("  items, detect_item(None, name)   {rate_i:>10.0}/s");

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let names = Arc::new(names);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (m, names) = (matcher.clone(), names.clone());
            std::thread::spawn(move || {
                names
                    .iter()
                    .skip(t)
                    .step_by(threads)
                    .filter(|s| m.detect(s).is_some())
                    .count()
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let rate_mt = names.len() as f64 / start.elapsed().as_secs_f64();
    println!("{threads} threads, one shared Arc<BrandMatcher>: {rate_mt:.0} product names/s");

    // Sanity: the generated branded names are found (the unbranded tenth is not).
    assert!(
        total as f64 >= 0.85 * names.len() as f64,
        "only {total} of {} names found a brand",
        names.len()
    );
    assert!(found_t as f64 >= 0.75 * talk.len() as f64);
}

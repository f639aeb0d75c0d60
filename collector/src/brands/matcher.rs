//! The matching itself: the left-to-right scan over the index (`index.rs`).
//!
//! At each word the scan extends a window word by word while the words written together are
//! still the beginning of some dictionary entry (a prefix set stops it early), and keeps the
//! longest complete entry: "san mig light" beats "san mig", "lucky 7 sardines" beats "lucky".
//! A strong entry is taken as is; a weak one only with one of its brand's context words within
//! six words (or in the item's other fields), or when the device reported that brand. Words no
//! entry explains go to the fuzzy step (always for transcripts; for a single detection only when
//! nothing found scores 0.9 or more, since a fuzzy match never does). A noise word (the store's
//! everyday vocabulary) is never fuzzy-matched alone, only in a window with a word that is not
//! noise ("lemon sqaure"). The fuzzy step first reads runs of shorthand words as a brand's
//! vowel-dropped form (`shorthand.rs`: "SFGRD" is Safeguard), then compares by similarity
//! (`fuzzy.rs`). A form followed by one of its brand's `not_before` words is not the brand
//! ("century egg").

use super::dictionary::{KeyKind, MAX_WORDS};
use super::index::{Entry, FUZZY_MIN_LEN};
use super::merge::COMPANY_SCORE;
use super::normalize::{Normalized, normalize};
use super::transaction::DeviceEvidence;
use super::{Brand, BrandKind, BrandMatcher, Detection, Method, Source, round3};

/// Words either side of a weak entry searched for its context.
const CONTEXT_WINDOW: usize = 6;
/// Fuzzy score = this × similarity, so a fuzzy match never outranks an alias.
const FUZZY_WEIGHT: f64 = 0.9;
/// A weak entry confirmed only by the device scores this much less than with a context word.
const DEVICE_ONLY_PENALTY: f64 = 0.1;
/// The device naming a brand adds this to a detection of it.
const DEVICE_BOOST: f64 = 0.05;
/// Longest window the fuzzy step compares, in words.
const FUZZY_MAX_WORDS: usize = 3;
/// The similarity a shorthand form counts as (score = fuzzy weight × this): below an alias and a
/// confirmed weak word, at the level of a close misspelling.
const SHORTHAND_SIMILARITY: f64 = 0.94;

/// What surrounds the text being scanned.
pub(crate) struct Ctx<'a> {
    /// The text is a brand field: a whole text equal to a (weak) name is that brand.
    pub(crate) assert_brand: bool,
    /// The item's other fields, searched for context words too.
    pub(crate) extra: [Option<&'a Normalized>; 2],
    pub(crate) device: &'a DeviceEvidence,
}

/// When the fuzzy step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fuzzy {
    /// Only if nothing found so far could beat a fuzzy match (one best detection wanted).
    IfNeeded,
    /// On every word nothing else explains (all brands wanted).
    Always,
}

/// A match in the normalised words `start..end`.
#[derive(Debug, Clone)]
struct Hit<'m> {
    brand: u32,
    start: usize,
    end: usize,
    method: Method,
    score: f64,
    kind: KeyKind,
    display: &'m str,
    device: bool,
}

enum At<'m> {
    Hit(Hit<'m>),
    /// Weak entries end here, none confirmed: these words are not fuzzy-matched either.
    Unconfirmed(usize),
    Nothing,
}

impl BrandMatcher {
    pub(super) fn normalize(&self, text: &str) -> Normalized {
        normalize(text, |w| self.index.numbers.contains(w))
    }

    /// The brand a name from the device's `detectedBrands` means (read like a brand field).
    pub(crate) fn canonical_id(&self, text: &str) -> Option<u32> {
        let norm = self.normalize(text);
        let device = DeviceEvidence::default();
        let ctx = Ctx {
            assert_brand: true,
            extra: [None, None],
            device: &device,
        };
        best(&self.scan(&norm, &ctx, Fuzzy::IfNeeded)).map(|h| h.brand)
    }

    pub(crate) fn brand_at(&self, id: u32) -> &Brand {
        &self.brands[id as usize]
    }

    pub(crate) fn detect_in(
        &self,
        text: &str,
        source: Source,
        device: &DeviceEvidence,
    ) -> Option<Detection<'_>> {
        let norm = self.normalize(text);
        let ctx = Ctx {
            assert_brand: false,
            extra: [None, None],
            device,
        };
        let hits = self.scan(&norm, &ctx, Fuzzy::IfNeeded);
        best(&hits).map(|h| self.detection(&norm, h, source))
    }

    pub(crate) fn detect_all_in(
        &self,
        text: &str,
        source: Source,
        device: &DeviceEvidence,
    ) -> Vec<Detection<'_>> {
        let norm = self.normalize(text);
        let ctx = Ctx {
            assert_brand: false,
            extra: [None, None],
            device,
        };
        let hits = self.scan(&norm, &ctx, Fuzzy::Always);
        // One detection per brand: its best evidence, in order of first mention.
        let mut out: Vec<(usize, &Hit<'_>)> = Vec::new();
        for h in &hits {
            match out.iter_mut().find(|(_, o)| o.brand == h.brand) {
                Some((_, o)) if h.score > o.score => *o = h,
                Some(_) => {}
                None => out.push((h.start, h)),
            }
        }
        out.sort_by_key(|(first, _)| *first);
        out.into_iter()
            .map(|(_, h)| self.detection(&norm, h, source))
            .collect()
    }

    pub(crate) fn item_in(
        &self,
        brand_name: Option<&str>,
        product_name: Option<&str>,
        category: Option<&str>,
        device: &DeviceEvidence,
    ) -> Option<Detection<'_>> {
        let brand = brand_name
            .filter(|s| !s.trim().is_empty())
            .map(|s| self.normalize(s));
        let product = product_name
            .filter(|s| !s.trim().is_empty())
            .map(|s| self.normalize(s));
        let category = category.map(|s| self.normalize(s));
        if let Some(b) = &brand {
            let ctx = Ctx {
                assert_brand: true,
                extra: [product.as_ref(), category.as_ref()],
                device,
            };
            let hits = self.scan(b, &ctx, Fuzzy::IfNeeded);
            if let Some(h) = best(&hits) {
                return Some(self.detection(b, h, Source::ItemBrand));
            }
        }
        let p = product.as_ref()?;
        let ctx = Ctx {
            assert_brand: false,
            extra: [brand.as_ref(), category.as_ref()],
            device,
        };
        let hits = self.scan(p, &ctx, Fuzzy::IfNeeded);
        best(&hits).map(|h| self.detection(p, h, Source::ProductName))
    }

    fn detection<'m>(&'m self, norm: &Normalized, h: &Hit<'m>, source: Source) -> Detection<'m> {
        Detection {
            brand: &self.brands[h.brand as usize],
            method: h.method,
            score: round3(h.score),
            matched: norm.spaced(h.start, h.end),
            key: h.display,
            source,
            device_agrees: h.device,
        }
    }

    /// Every match in `norm`, in text order.
    fn scan<'m>(&'m self, norm: &Normalized, ctx: &Ctx<'_>, fuzzy: Fuzzy) -> Vec<Hit<'m>> {
        let n = norm.len();
        let mut hits: Vec<Hit<'m>> = Vec::new();
        let mut unconfirmed: Vec<(usize, usize)> = Vec::new();
        let mut i = 0;
        while i < n {
            match self.match_at(norm, i, ctx) {
                At::Hit(h) => {
                    i = h.end;
                    hits.push(h);
                }
                At::Unconfirmed(end) => {
                    // Not fuzzy-matched either; a strong entry may still start inside.
                    unconfirmed.push((i, end));
                    i += 1;
                }
                At::Nothing => i += 1,
            }
        }
        let needed = hits.iter().all(|h| h.score < FUZZY_WEIGHT);
        if n > 0 && (fuzzy == Fuzzy::Always || needed) {
            let before = hits.len();
            self.fuzzy_pass(norm, &mut hits, &unconfirmed);
            if hits.len() != before {
                hits.sort_by_key(|h| h.start);
            }
        }
        // A generic word right after another brand describes that brand's product ("Payless
        // Pancit Canton"), fuzzy or not.
        let mut k = 1;
        while k < hits.len() {
            let (p, h) = (&hits[k - 1], &hits[k]);
            if h.kind == KeyKind::Generic && p.end == h.start && p.brand != h.brand {
                hits.remove(k);
            } else {
                k += 1;
            }
        }
        // A company's name next to one of its brands only says who makes it ("Nestlé Bear
        // Brand", "Jack 'n Jill Piattos"): the brand is the answer.
        if hits.iter().any(|h| h.kind == KeyKind::Company) {
            let owners = &self.index.owners;
            let named: Vec<u32> = hits
                .iter()
                .filter(|h| h.kind != KeyKind::Company)
                .flat_map(|h| owners[h.brand as usize].iter().copied())
                .collect();
            hits.retain(|h| h.kind != KeyKind::Company || !named.contains(&h.brand));
        }
        for h in &mut hits {
            if ctx.device.has(h.brand) && !h.device {
                h.device = true;
                h.score = (h.score + DEVICE_BOOST).min(1.0);
            }
        }
        hits
    }

    /// The longest entry starting at word `i`.
    fn match_at<'m>(&'m self, norm: &Normalized, i: usize, ctx: &Ctx<'_>) -> At<'m> {
        let n = norm.len();
        let mut found: [(usize, Option<&'m Vec<Entry>>); MAX_WORDS] = [(0, None); MAX_WORDS];
        let mut count = 0;
        let mut end = i;
        while end < n && end - i < MAX_WORDS {
            let window = norm.compact(i, end + 1);
            if !self.index.prefixes.contains(window) {
                break;
            }
            if let Some(entries) = self.index.keys.get(window) {
                found[count] = (end + 1, Some(entries));
                count += 1;
            }
            end += 1;
        }
        for (k, &(end, entries)) in found[..count].iter().enumerate().rev() {
            if let Some(entries) = entries
                && let Some(mut hit) = self.resolve(norm, i, end, entries, ctx)
            {
                // "Nescafé Classic": an alias that starts with the brand's own name is the name.
                let starts_with_name = found[..k].iter().any(|(_, shorter)| {
                    shorter.is_some_and(|es| {
                        es.iter()
                            .any(|e| e.brand == hit.brand && e.strong && e.kind == KeyKind::Name)
                    })
                });
                if hit.method == Method::Alias && hit.kind == KeyKind::Alias && starts_with_name {
                    hit.method = Method::Exact;
                    hit.score = hit.score.max(0.97);
                }
                return At::Hit(hit);
            }
        }
        match count {
            0 => At::Nothing,
            _ => At::Unconfirmed(found[count - 1].0),
        }
    }

    /// Which brand the entries at `start..end` mean here, if any.
    fn resolve<'m>(
        &'m self,
        norm: &Normalized,
        start: usize,
        end: usize,
        entries: &'m [Entry],
        ctx: &Ctx<'_>,
    ) -> Option<Hit<'m>> {
        let whole = start == 0 && end == norm.len();
        // "century egg": a word after the form that says it is something else.
        let next = (end < norm.len()).then(|| norm.word(end));
        let blocked = |e: &Entry| next.is_some_and(|w| self.blocked_before(e.brand, w));
        let hit = |e: &'m Entry, method, score, device| Hit {
            brand: e.brand,
            start,
            end,
            method,
            score,
            kind: e.kind,
            display: &e.display,
            device,
        };
        if let Some(e) = entries
            .iter()
            .find(|e| e.strong && e.kind != KeyKind::Company && !blocked(e))
        {
            return Some(match e.kind {
                KeyKind::Name => hit(e, Method::Exact, if whole { 1.0 } else { 0.97 }, false),
                _ => hit(e, Method::Alias, e.score, false),
            });
        }
        if ctx.assert_brand
            && whole
            && let Some(e) = entries
                .iter()
                .find(|e| e.kind == KeyKind::Name && !blocked(e))
        {
            return Some(hit(e, Method::Exact, 1.0, false));
        }
        // Weak entries: the one with the most context words; the device's word counts less
        // than any context word; a tie between brands is ambiguous.
        let mut best: Option<(&'m Entry, usize)> = None;
        let mut tie = false;
        for e in entries.iter().filter(|e| !e.strong && !blocked(e)) {
            let words = self.context_words(e.brand, norm, start, end, ctx);
            let rank = if words > 0 {
                words + 1
            } else if ctx.device.has(e.brand) {
                1
            } else {
                continue;
            };
            match best {
                Some((_, r)) if rank > r => {
                    best = Some((e, rank));
                    tie = false;
                }
                Some((b, r)) => tie |= rank == r && b.brand != e.brand,
                None => best = Some((e, rank)),
            }
        }
        match best {
            Some((e, 1)) if !tie => {
                Some(hit(e, Method::Context, e.score - DEVICE_ONLY_PENALTY, true))
            }
            Some((e, _)) if !tie => Some(hit(e, Method::Context, e.score, false)),
            // No brand here: a company's name, if the form is one ("san miguel" alone).
            _ => entries
                .iter()
                .find(|e| e.kind == KeyKind::Company && !blocked(e))
                .map(|e| hit(e, Method::Company, e.score, false)),
        }
    }

    /// Whether `word` right after a form of `brand` says the form is something else.
    fn blocked_before(&self, brand: u32, word: &str) -> bool {
        self.index.not_before[brand as usize].contains(word)
    }

    /// Context words of `brand` near `start..end` and in the item's other fields.
    fn context_words(
        &self,
        brand: u32,
        norm: &Normalized,
        start: usize,
        end: usize,
        ctx: &Ctx<'_>,
    ) -> usize {
        let set = &self.index.context[brand as usize];
        if set.is_empty() {
            return 0;
        }
        let lo = start.saturating_sub(CONTEXT_WINDOW);
        let hi = (end + CONTEXT_WINDOW).min(norm.len());
        // A context word, or its shorthand ("CHS" for cheese, "LD" for load).
        let confirms = |w: &str| {
            set.contains(w)
                || (!self.index.words.contains(w) && self.index.shorthand.confirms(brand, set, w))
        };
        let near = (lo..hi)
            .filter(|&k| (k < start || k >= end) && confirms(norm.word(k)))
            .count();
        let fields: usize = ctx
            .extra
            .iter()
            .flatten()
            .map(|f| f.words().filter(|w| confirms(w)).count())
            .sum();
        near + fields
    }

    /// Fuzzy-matches the words no entry explained.
    fn fuzzy_pass<'m>(
        &'m self,
        norm: &Normalized,
        hits: &mut Vec<Hit<'m>>,
        unconfirmed: &[(usize, usize)],
    ) {
        let n = norm.len();
        let covered = |k: usize| {
            hits.iter().any(|h| h.start <= k && k < h.end)
                || unconfirmed.iter().any(|&(s, e)| s <= k && k < e)
        };
        // A noise word is never matched on its own, but it may sit in a window with a word that
        // is not noise: "lemon sqaure" is Lemon Square, "lemon" alone is nothing.
        let noise: Vec<bool> = (0..n)
            .map(|k| self.index.noise.contains(norm.word(k)))
            .collect();
        let usable: Vec<bool> = (0..n)
            .map(|k| {
                let w = norm.word(k);
                w.is_ascii()
                    && w.len() >= 2
                    && !w.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    && !covered(k)
            })
            .collect();
        let eligible: Vec<bool> = (0..n).map(|k| usable[k] && !noise[k]).collect();
        let mut scratch = String::new();
        let mut found = Vec::new();
        let mut i = 0;
        while i < n {
            if let Some(h) = self.shorthand_at(norm, i, &eligible) {
                i = h.end;
                found.push(h);
                continue;
            }
            let mut best: Option<(usize, &'m super::fuzzy::FuzzyKey, f64)> = None;
            let mut end = i;
            let mut content = false;
            while end < n && end - i < FUZZY_MAX_WORDS && usable[end] {
                content |= !noise[end];
                end += 1;
                let window = norm.compact(i, end);
                if !content || window.len() < FUZZY_MIN_LEN {
                    continue;
                }
                if let Some((key, sim)) = self.index.fuzzy.best(window, &mut scratch)
                    && best.is_none_or(|(_, _, s)| sim > s)
                    && !(end < n && self.blocked_before(key.brand, norm.word(end)))
                {
                    best = Some((end, key, sim));
                }
            }
            match best {
                Some((end, key, sim)) => {
                    let company = self.brands[key.brand as usize].kind == BrandKind::Company;
                    let (method, kind, weight) = if company {
                        (Method::Company, KeyKind::Company, COMPANY_SCORE)
                    } else {
                        (Method::Fuzzy, KeyKind::Alias, FUZZY_WEIGHT)
                    };
                    found.push(Hit {
                        brand: key.brand,
                        start: i,
                        end,
                        method,
                        score: weight * sim,
                        kind,
                        display: &key.display,
                        device: false,
                    });
                    i = end;
                }
                None => i += 1,
            }
        }
        hits.extend(found);
    }

    /// The longest run of shorthand words from `i` that is one brand's vowel-dropped form
    /// ("sfgrd", "grt tst"). Words the dictionary itself uses are real words, not shorthand.
    fn shorthand_at<'m>(
        &'m self,
        norm: &Normalized,
        i: usize,
        eligible: &[bool],
    ) -> Option<Hit<'m>> {
        let n = norm.len();
        let longest = self.index.shorthand.max_words().min(n - i);
        for len in (1..=longest).rev() {
            let end = i + len;
            if !(i..end).all(|k| eligible[k] && !self.index.words.contains(norm.word(k))) {
                continue;
            }
            let Some(key) = self
                .index
                .shorthand
                .brand_of((i..end).map(|k| norm.word(k)))
            else {
                continue;
            };
            if end < n && self.blocked_before(key.brand, norm.word(end)) {
                continue;
            }
            return Some(Hit {
                brand: key.brand,
                start: i,
                end,
                method: Method::Fuzzy,
                score: FUZZY_WEIGHT * SHORTHAND_SIMILARITY,
                kind: KeyKind::Alias,
                display: &key.display,
                device: false,
            });
        }
        None
    }
}

/// The best hit: highest score, then the longer entry, then the earlier.
fn best<'a, 'm>(hits: &'a [Hit<'m>]) -> Option<&'a Hit<'m>> {
    hits.iter().reduce(|a, b| {
        let key = |h: &Hit<'_>| (h.score, h.display.len());
        if key(b) > key(a) { b } else { a }
    })
}

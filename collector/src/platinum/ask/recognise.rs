//! Words to items: the longest known phrase first, numbers, dates and Filipino linkers, a near
//! spelling taken when it is unmistakable, and store codes; what is left unknown is reported
//! with the nearest known word.

use chrono::NaiveDate;

use super::stopwords::STOPWORDS;
use super::vocabulary::{Word, lookup, number_word, single_words};

/// One recognised piece of the question.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Item {
    Word(Word),
    Date(NaiveDate),
}

/// Takes store codes ("ST-QC-001", "sari-12") out of the question's words: a word that starts
/// with a letter and holds a digit and a hyphen names a store (filters compare ids without
/// regard to case).
pub(super) fn take_store_codes(words: &mut Vec<String>) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    words.retain(|w| {
        let code = w.starts_with(|c: char| c.is_alphabetic())
            && w.contains('-')
            && w.contains(|c: char| c.is_ascii_digit())
            && lookup(w).is_none()
            && !w.starts_with("top");
        if code && !codes.contains(w) {
            codes.push(w.clone());
        }
        !code
    });
    codes
}

/// Takes age brackets ("18-24", "55+") out of the question's words, as stored, with the word
/// for who they are right after them ("55+ customers" filters; it measures nothing).
pub(super) fn take_age_brackets(words: &mut Vec<String>) -> Vec<String> {
    let age = |s: &str| s.parse::<u32>().is_ok_and(|n| n <= 120) && s.len() <= 3;
    let is_bracket = |w: &str| match w.split_once('-') {
        Some((lo, hi)) => age(lo) && age(hi) && lo.parse::<u32>().ok() < hi.parse::<u32>().ok(),
        None => w.strip_suffix('+').is_some_and(age),
    };
    let mut brackets: Vec<String> = Vec::new();
    let mut kept: Vec<String> = Vec::new();
    let mut after_bracket = false;
    for w in words.drain(..) {
        if is_bracket(&w) {
            if !brackets.contains(&w) {
                brackets.push(w);
            }
            after_bracket = true;
            continue;
        }
        let who = matches!(
            w.as_str(),
            "customers" | "customer" | "shoppers" | "buyers" | "mamimili" | "people"
        );
        if !(after_bracket && who) {
            kept.push(w);
        }
        after_bracket = false;
    }
    *words = kept;
    brackets
}

/// Turns tokens into items, longest phrase first; returns the words it does not know, each
/// with the nearest known word when one is close.
pub(super) fn recognise(
    words: &[String],
    notes: &mut Vec<String>,
) -> (Vec<Item>, Vec<(String, Option<&'static str>)>) {
    let mut items = Vec::new();
    let mut unknown = Vec::new();
    let mut i = 0;
    'outer: while i < words.len() {
        for len in (1..=4.min(words.len() - i)).rev() {
            if let Some(w) = lookup(&words[i..i + len].join(" ")) {
                items.push(Item::Word(w));
                i += len;
                continue 'outer;
            }
        }
        let word = words[i].as_str();
        i += 1;
        if let Ok(date) = NaiveDate::parse_from_str(word, "%Y-%m-%d") {
            items.push(Item::Date(date));
        } else if let Ok(n) = word.parse::<u32>() {
            items.push(Item::Word(Word::Number(n)));
        } else if let Some(n) = word
            .strip_prefix("top")
            .map(|r| r.trim_start_matches('-'))
            .and_then(|r| r.parse::<u32>().ok())
        {
            items.push(Item::Word(Word::Top));
            items.push(Item::Word(Word::Number(n)));
        } else if let Some(n) = number_word(word) {
            items.push(Item::Word(Word::Number(n)));
        } else if let Some(w) = word
            .strip_suffix("ng")
            .filter(|w| w.len() >= 4)
            .and_then(lookup)
        {
            // A Filipino linker: "pinakamabentang", "lingguhang".
            items.push(Item::Word(w));
        } else if STOPWORDS.contains(&word) {
        } else {
            let (near, distance) = nearest(word);
            // One letter off in a word of five or more, two in one of eight or more
            // ("tranasctions").
            let letters = word.chars().count();
            if (distance == 1 && letters >= 5) || (distance == 2 && letters >= 8) {
                notes.push(format!("read {word:?} as {near:?}"));
                if let Some(w) = lookup(near) {
                    items.push(Item::Word(w));
                }
            } else {
                unknown.push((word.to_owned(), (distance <= 2).then_some(near)));
            }
        }
    }
    (items, unknown)
}

/// The known single word nearest to `word`, and its edit distance.
fn nearest(word: &str) -> (&'static str, usize) {
    single_words()
        .map(|w| (w, strsim::levenshtein(word, w)))
        .min_by_key(|(_, d)| *d)
        .unwrap_or(("sales", usize::MAX))
}

//! Reading a question into a [`Plan`](crate::platinum::plan::Plan): phrases are looked up longest first, brand names come
//! from the brand matcher, numbers from digits or words, and the pieces are put together by a
//! few rules (a dimension groups after "per"/"bawat", is ranked after "which", or is plural;
//! "top N" ranks; "vs" compares the values named). What cannot be read without guessing is
//! asked about instead.

use chrono::{Datelike, Duration, Months, NaiveDate, Weekday};

use super::recognise::{Item, recognise, take_age_brackets, take_store_codes};
use super::safety::refusal;
use super::shaping::{Parts, Reading, clarify, push, shape};
use super::stopwords::STOPWORDS;
use super::tokenizer::tokens;
use super::vocabulary::{Word, lookup};
use crate::brands::{BrandMatcher, Method};
use crate::platinum::dates::{Period, last_weekday, monday_of, month_range};
use crate::platinum::plan::{Dimension, Measure};

/// The note saying which product names a `products` filter keeps.
pub fn products_note(words: &[String]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
    format!("items whose product name contains {}", quoted.join(" or "))
}

/// Reads `question` as of `as_of`, with brand names from `brands` when given.
pub fn read(question: &str, as_of: NaiveDate, brands: Option<&BrandMatcher>) -> Reading {
    read_with_products(question, as_of, brands, &[])
}

/// Reads `question` with `products` (each a word of it, and the word product names hold for
/// it: `sardinas` → `sardine`) taken as product filters rather than asked about.
pub fn read_with_products(
    question: &str,
    as_of: NaiveDate,
    brands: Option<&BrandMatcher>,
    products: &[(String, String)],
) -> Reading {
    if let Some(reason) = refusal(question) {
        return Reading::Refused { reason };
    }
    let mut notes = Vec::new();
    let mut words = tokens(question);
    if words.is_empty() {
        return clarify("Ask about sales, units, transactions or customers.");
    }
    let mut brand_names: Vec<String> = Vec::new();
    let mut product_hints: Vec<String> = Vec::new();
    if let Some(matcher) = brands {
        for d in matcher.detect_all(question) {
            let sure = match d.method {
                Method::Exact | Method::Alias => d.score >= 0.9,
                Method::Fuzzy => d.score >= 0.75,
                Method::Context | Method::Company => false,
            };
            if !sure || brand_names.contains(&d.brand.name) {
                continue;
            }
            let matched = tokens(&d.matched);
            // A near spelling made only of the grammar's own words ("brand paid" for Band-Aid)
            // is the question's wording, not a brand.
            if d.method == Method::Fuzzy
                && matched
                    .iter()
                    .all(|m| lookup(m).is_some() || STOPWORDS.contains(&m.as_str()))
            {
                continue;
            }
            let before = words.len();
            // Every word of the name, whether the question hyphenated it ("coca-cola") or not.
            words.retain(|w| !w.split('-').all(|part| matched.iter().any(|m| m == part)));
            if words.len() == before {
                continue;
            }
            if d.method == Method::Fuzzy {
                notes.push(format!(
                    "read {:?} as the brand {}",
                    d.matched, d.brand.name
                ));
            }
            // A word of the form that does not name the brand on its own names its product.
            let own: Vec<String> = tokens(&d.brand.name)
                .iter()
                .flat_map(|t| t.split('-').map(str::to_owned).collect::<Vec<_>>())
                .collect();
            for w in &matched {
                if w.chars().count() >= 4
                    && w.chars().all(char::is_alphabetic)
                    && !own.contains(w)
                    && !product_hints.contains(w)
                    && !matcher
                        .detect_all(w)
                        .iter()
                        .any(|alone| alone.brand.name == d.brand.name)
                {
                    product_hints.push(w.clone());
                }
            }
            brand_names.push(d.brand.name.clone());
        }
    }

    let store_codes = take_store_codes(&mut words);
    let age_brackets = take_age_brackets(&mut words);
    let mut product_words: Vec<String> = Vec::new();
    words.retain(|w| {
        let Some((_, named)) = products.iter().find(|(word, _)| word == w) else {
            return true;
        };
        if !product_words.contains(named) {
            product_words.push(named.clone());
        }
        false
    });

    let (items, unknown) = recognise(&words, &mut notes);
    if !unknown.is_empty() {
        let mut suggestions = Vec::new();
        let mut parts = Vec::new();
        for (word, near) in &unknown {
            match near {
                Some(n) => {
                    parts.push(format!("{word:?} (did you mean {n:?}?)"));
                    suggestions.push((*n).to_owned());
                }
                None => parts.push(format!("{word:?}")),
            }
        }
        return Reading::Clarify {
            clarification: format!("I do not know the word(s) {}.", parts.join(", ")),
            suggestions,
            unknown: unknown.into_iter().map(|(w, _)| w).collect(),
        };
    }
    let mut reading = build(&items, brand_names, store_codes, as_of, notes);
    if let Reading::Plan {
        plan,
        product_hints: hints,
        ..
    } = &mut reading
    {
        *hints = product_hints;
        plan.filters.age_brackets = age_brackets;
    }
    if let Reading::Plan { plan, notes, .. } = &mut reading
        && !product_words.is_empty()
    {
        notes.push(products_note(&product_words));
        plan.filters.products = product_words;
    }
    reading
}

/// Whether a weekday continues a list of weekdays each taken whole ("Saturdays and Sundays").
fn listing(p: &Parts, prev: Option<Item>) -> bool {
    !p.weekdays.is_empty()
        && matches!(
            prev,
            Some(Item::Word(
                Word::Weekday(_) | Word::Weekdays(_) | Word::Linggo
            ))
        )
}

fn build(
    items: &[Item],
    brands: Vec<String>,
    stores: Vec<String>,
    as_of: NaiveDate,
    mut notes: Vec<String>,
) -> Reading {
    let mut p = Parts {
        stores,
        ..Parts::default()
    };
    let mut dates: Vec<NaiveDate> = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let prev = i.checked_sub(1).map(|j| items[j]);
        let next = items.get(i + 1).copied();
        let Item::Word(w) = items[i] else {
            if let Item::Date(d) = items[i] {
                dates.push(d);
            }
            i += 1;
            continue;
        };
        i += 1;
        match w {
            Word::Measure(Measure::UniqueCustomers)
                if matches!(prev, Some(Item::Word(Word::Gender(_)))) =>
            {
                p.gender_customers = true;
            }
            Word::Measure(m) => push(&mut p.measures, m),
            Word::AvgBasket => p.avg_basket = true,
            Word::BasketSize => {
                p.avg_basket = true;
                push(&mut p.measures, Measure::Units);
            }
            Word::Dimension(Dimension::Store, _)
                if matches!(next, Some(Item::Word(Word::Number(_)))) =>
            {
                while let Some(Item::Word(Word::Number(n))) = items.get(i) {
                    push(&mut p.stores, n.to_string());
                    i += 1;
                }
            }
            Word::Dimension(d, plural) => {
                let marked = matches!(prev, Some(Item::Word(Word::Group | Word::Which)));
                if matches!(prev, Some(Item::Word(Word::Which))) {
                    p.which = !plural;
                }
                // "GCash payment": the noun of a value just named, not a grouping.
                let value_noun = !plural
                    && !marked
                    && d == Dimension::PaymentMethod
                    && [prev, next]
                        .iter()
                        .any(|x| matches!(x, Some(Item::Word(Word::Payment(_)))));
                if !value_noun {
                    p.singular = !plural;
                    push(&mut p.dims, d);
                }
            }
            Word::Group | Word::Which | Word::To => {}
            Word::Top => p.top = Some(true),
            Word::Bottom => p.top = Some(false),
            Word::Compare => p.compare = true,
            Word::Trend => p.trend = true,
            Word::Crosstab => p.crosstab = true,
            Word::Sell => p.sell = true,
            Word::HowMany => p.how_many = true,
            Word::Busy(most) => {
                p.busy = true;
                p.top = Some(most);
            }
            Word::Order(descending) => p.order = Some(descending),
            Word::Weekdays(day) => push(&mut p.weekdays, day),
            // "every Sunday", "tuwing Sabado (at Linggo)": each of them, not the last one.
            Word::Weekday(day)
                if matches!(prev, Some(Item::Word(Word::Group))) || listing(&p, prev) =>
            {
                push(&mut p.weekdays, day);
            }
            // "by weekday", "kada weekday": the day of the week groups.
            Word::Weekend(false) if matches!(prev, Some(Item::Word(Word::Group | Word::Which))) => {
                p.singular = false;
                push(&mut p.dims, Dimension::Weekday);
            }
            // "tuwing Linggo", "every linggo": Sundays (a week cannot repeat like this).
            Word::Linggo if matches!(prev, Some(Item::Word(Word::Group))) || listing(&p, prev) => {
                push(&mut p.weekdays, Weekday::Sun);
            }
            Word::Today => p.periods.push(Period::Today),
            Word::Yesterday => p.periods.push(Period::Yesterday),
            Word::ThisWeek => p.periods.push(Period::ThisWeek),
            Word::LastWeek => p.periods.push(Period::LastWeek),
            Word::ThisMonth => p.periods.push(Period::ThisMonth),
            Word::LastMonth => p.periods.push(Period::LastMonth),
            Word::Last | Word::Recent => match (next, items.get(i + 1).copied()) {
                (Some(Item::Word(Word::Number(n))), Some(Item::Word(Word::Days))) => {
                    p.periods.push(Period::LastDays { days: n });
                    i += 2;
                }
                (Some(Item::Word(Word::Days)), _) => {
                    p.periods.push(Period::Yesterday);
                    i += 1;
                }
                // "last 4 weeks", "huling 3 buwan": that many whole weeks (Monday to Sunday)
                // or calendar months before the current one.
                (
                    Some(Item::Word(Word::Number(n))),
                    Some(Item::Word(Word::Dimension(
                        unit @ (Dimension::Week | Dimension::Month),
                        _,
                    ))),
                ) => {
                    match whole_periods_before(as_of, n, unit) {
                        Some(period) => p.periods.push(period),
                        None => return clarify("That reaches too far back: name at most 3 years."),
                    }
                    i += 2;
                }
                (Some(Item::Word(Word::Weekday(day))), _) => {
                    let date = if w == Word::Recent && as_of.weekday() == day {
                        as_of
                    } else {
                        last_weekday(as_of, day)
                    };
                    dates.push(date);
                    i += 1;
                }
                // "noong Oktubre": in October; "nitong nakaraang linggo", "nitong huling 30 araw":
                // the period named next.
                (
                    Some(Item::Word(
                        Word::Month(_)
                        | Word::Last
                        | Word::Today
                        | Word::Yesterday
                        | Word::ThisWeek
                        | Word::LastWeek
                        | Word::ThisMonth
                        | Word::LastMonth,
                    )),
                    _,
                ) => {}
                (Some(Item::Word(Word::Linggo)), _) => {
                    return clarify(
                        "\"linggo\" can be a week or Sunday: say \"ngayong linggo\", \"nakaraang linggo\" or \"Sunday\".",
                    );
                }
                _ => {
                    return clarify(
                        "Last what? Say \"last 7 days\", \"last week\", \"last month\" or a weekday.",
                    );
                }
            },
            Word::Days => return clarify("How many days? Say for example \"last 7 days\"."),
            Word::Weekday(day) => {
                dates.push(if as_of.weekday() == day {
                    as_of
                } else {
                    last_weekday(as_of, day)
                });
            }
            Word::Linggo => {
                return clarify(
                    "\"linggo\" can be a week or Sunday: say \"ngayong linggo\", \"nakaraang linggo\" or \"Sunday\".",
                );
            }
            Word::Month(m) => {
                let mut day = None;
                let mut year = None;
                while let Some(Item::Word(Word::Number(n))) = items.get(i) {
                    match *n {
                        1..=31 if day.is_none() && year.is_none() => day = Some(*n),
                        2000..=2100 if year.is_none() => year = Some(*n as i32),
                        _ => break,
                    }
                    i += 1;
                }
                let year = year.unwrap_or(if m <= as_of.month() {
                    as_of.year()
                } else {
                    as_of.year() - 1
                });
                match day {
                    Some(d) => match NaiveDate::from_ymd_opt(year, m, d) {
                        Some(date) => dates.push(date),
                        None => return clarify(format!("There is no day {d} in that month.")),
                    },
                    None => match month_range(year, m) {
                        Some((from, to)) => p.periods.push(Period::Between { from, to }),
                        None => return clarify("That month is not a date I can read."),
                    },
                }
            }
            Word::Payment(v) => push(&mut p.payments, v.to_owned()),
            Word::Daypart(v) => push(&mut p.dayparts, v.to_owned()),
            Word::Weekend(v) => push(&mut p.weekend, v),
            Word::Gender(v) => push(&mut p.genders, v),
            Word::Category(v) => push(&mut p.categories, v.to_owned()),
            Word::Number(n) => {
                if matches!(prev, Some(Item::Word(Word::Top | Word::Bottom))) {
                    p.limit = Some(n);
                } else if matches!(
                    next,
                    Some(Item::Word(Word::Top | Word::Bottom | Word::Dimension(..)))
                ) {
                    // "5 best brands", "sampung brand"
                    p.limit = Some(n);
                } else {
                    return clarify(format!(
                        "What does the number {n} refer to? Say \"store {n}\", \"top {n}\" or \"last {n} days\"."
                    ));
                }
            }
        }
    }
    match dates.as_slice() {
        [] => {}
        [d] => p.periods.push(Period::Between { from: *d, to: *d }),
        [a, b] => p.periods.push(Period::Between {
            from: (*a).min(*b),
            to: (*a).max(*b),
        }),
        _ => return clarify("More than two dates: name one day or one range."),
    }
    shape(p, brands, as_of, &mut notes).map_or_else(
        |r| *r,
        |plan| Reading::Plan {
            plan: Box::new(plan),
            notes,
            product_hints: Vec::new(),
        },
    )
}

/// The `n` whole weeks or calendar months before the one `as_of` is in.
fn whole_periods_before(as_of: NaiveDate, n: u32, unit: Dimension) -> Option<Period> {
    if n == 0 || n > 156 {
        return None;
    }
    if unit == Dimension::Week {
        let monday = monday_of(as_of);
        return Some(Period::Between {
            from: monday - Duration::weeks(i64::from(n)),
            to: monday - Duration::days(1),
        });
    }
    let this_month = as_of.with_day(1)?;
    let from = this_month.checked_sub_months(Months::new(n))?;
    Some(Period::Between {
        from,
        to: this_month - Duration::days(1),
    })
}

//! What a question's words came to ([`Parts`]) and how they become a plan ([`shape`]): the
//! measure when none is named, the intent, the ranking's cut, the filters as stored; or the
//! question back ([`Reading::Clarify`]) when a plan would be a guess.

use chrono::{NaiveDate, Weekday};
use serde::Serialize;

use crate::platinum::dates::Period;
use crate::platinum::plan::{Dimension, Intent, Measure, Plan, Sort, SortKey, WEEKDAY_NAMES};

/// How a question was read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Reading {
    /// A plan, and notes on how words were taken (defaults, corrected spellings, brands).
    Plan {
        plan: Box<Plan>,
        notes: Vec<String>,
        /// Words of a brand's name in the question beyond the brand's own name ("mismo" in
        /// "Coke Mismo"): a product of the brand, when product names hold them.
        #[serde(skip)]
        product_hints: Vec<String>,
    },
    /// A question back: the question was not read, to avoid a guess.
    Clarify {
        clarification: String,
        suggestions: Vec<String>,
        /// The words not known, when that is why (the engine looks for them in product names).
        #[serde(skip)]
        unknown: Vec<String>,
    },
    /// Refused outright, with the reason.
    Refused { reason: String },
}

pub(super) fn ask(text: impl Into<String>) -> Box<Reading> {
    Box::new(clarify(text))
}

pub(super) fn clarify(text: impl Into<String>) -> Reading {
    Reading::Clarify {
        clarification: text.into(),
        suggestions: Vec::new(),
        unknown: Vec::new(),
    }
}

/// What the items say, before the plan is shaped.
#[derive(Default)]
pub(super) struct Parts {
    pub(super) measures: Vec<Measure>,
    pub(super) avg_basket: bool,
    pub(super) dims: Vec<Dimension>,
    pub(super) which: bool,
    /// The last grouping was named in the singular ("brand", not "brands").
    pub(super) singular: bool,
    pub(super) top: Option<bool>,
    pub(super) limit: Option<u32>,
    pub(super) compare: bool,
    pub(super) trend: bool,
    pub(super) crosstab: bool,
    pub(super) sell: bool,
    /// "how many", "ilan": units when no measure is named.
    pub(super) how_many: bool,
    /// "busiest", "slowest": transactions when no measure is named.
    pub(super) busy: bool,
    /// "highest first": sorted by the measure without a cut.
    pub(super) order: Option<bool>,
    pub(super) weekdays: Vec<Weekday>,
    pub(super) periods: Vec<Period>,
    pub(super) stores: Vec<String>,
    pub(super) payments: Vec<String>,
    pub(super) dayparts: Vec<String>,
    pub(super) genders: Vec<&'static str>,
    /// "female customers": who is counted, a measure only when no other is named.
    pub(super) gender_customers: bool,
    pub(super) categories: Vec<String>,
    pub(super) weekend: Vec<bool>,
}

pub(super) fn push<T: PartialEq>(list: &mut Vec<T>, v: T) {
    if !list.contains(&v) {
        list.push(v);
    }
}

/// The fields whose values the question named, with how many, in the order a comparison or a
/// share picks one to group by.
fn named_fields(p: &Parts, brands: &[String]) -> [(usize, Dimension); 6] {
    [
        (p.payments.len(), Dimension::PaymentMethod),
        (p.stores.len(), Dimension::Store),
        (brands.len(), Dimension::Brand),
        (p.categories.len(), Dimension::Category),
        (p.dayparts.len(), Dimension::Daypart),
        (p.genders.len(), Dimension::Gender),
    ]
}

/// Puts the parts together into a valid plan, or says what is missing.
pub(super) fn shape(
    mut p: Parts,
    mut brands: Vec<String>,
    as_of: NaiveDate,
    notes: &mut Vec<String>,
) -> Result<Plan, Box<Reading>> {
    // Two periods ("this week vs last week"): each row says which one it falls in.
    let versus = match p.periods.len() {
        0 | 1 => None,
        2 => {
            p.dims.insert(0, Dimension::Period);
            p.compare = true;
            p.periods.pop()
        }
        _ => return Err(ask("The question names more than two periods: which ones?")),
    };
    if p.avg_basket {
        if let Some(i) = p.measures.iter().position(|m| *m == Measure::Units) {
            p.measures[i] = Measure::AvgBasketUnits;
        } else {
            p.measures.insert(0, Measure::AvgBasketPesos);
        }
    }
    let weekend = match p.weekend.as_slice() {
        [] => None,
        [w] => Some(*w),
        _ => {
            push(&mut p.dims, Dimension::DayType);
            p.compare = true;
            None
        }
    };
    if p.measures.contains(&Measure::RevenueShare) {
        // A share is of sales; "share of sales" names sales once.
        p.measures.retain(|m| *m != Measure::Revenue);
        if p.dims.is_empty() {
            // "GCash share of sales": shares across every value of the field named.
            let Some((_, field)) = named_fields(&p, &brands).into_iter().find(|(n, _)| *n >= 1)
            else {
                return Err(ask(
                    "Share of what? Say for example \"share of sales by payment method\".",
                ));
            };
            match field {
                Dimension::PaymentMethod => p.payments.clear(),
                Dimension::Store => p.stores.clear(),
                Dimension::Brand => brands.clear(),
                Dimension::Category => p.categories.clear(),
                Dimension::Daypart => p.dayparts.clear(),
                _ => p.genders.clear(),
            }
            notes.push(format!("shares across every {}", field.name()));
            p.dims.push(field);
        }
    }
    // "Nescafe or Kopiko, which sells more": the values named are what is ranked.
    if p.top.is_some()
        && p.dims.is_empty()
        && let Some((_, d)) = named_fields(&p, &brands).into_iter().find(|(n, _)| *n >= 2)
    {
        p.dims.push(d);
    }
    if p.compare && p.dims.is_empty() {
        match named_fields(&p, &brands).into_iter().find(|(n, _)| *n >= 2) {
            Some((_, d)) => p.dims.push(d),
            None => {
                return Err(ask(
                    "Compare what? Name two or more stores, brands, payment methods or dayparts.",
                ));
            }
        }
    }
    if p.measures.is_empty() && p.gender_customers {
        p.measures.push(Measure::UniqueCustomers);
    }
    if p.measures.is_empty() && p.how_many {
        p.measures.push(Measure::Units);
        notes.push("counted in units sold: \"how many\" names no other measure".to_owned());
    }
    if p.measures.is_empty() && p.busy && !p.sell {
        p.measures.push(Measure::Transactions);
        notes.push("busy means transactions: no other measure was named".to_owned());
    }
    if p.measures.is_empty() {
        if p.sell || p.top.is_some() || p.compare || p.crosstab || p.trend || p.order.is_some() {
            p.measures.push(Measure::Revenue);
            notes.push("measured as sales (revenue in pesos): no measure was named".to_owned());
        } else {
            return Err(Box::new(Reading::Clarify {
                clarification: "What should be measured?".to_owned(),
                suggestions: [
                    "sales",
                    "units",
                    "transactions",
                    "average basket",
                    "customers",
                ]
                .map(str::to_owned)
                .to_vec(),
                unknown: Vec::new(),
            }));
        }
    }
    if p.dims.len() > 3 {
        return Err(ask("At most three groupings at once: which ones matter?"));
    }
    let time_first = p.dims.iter().position(|d| d.is_time());
    let intent = if p.crosstab {
        Intent::Crosstab
    } else if p.top.is_some() {
        if p.dims.len() != 1 {
            return Err(Box::new(Reading::Clarify {
                clarification: "Top what? Name one: brands, stores, categories, payment methods…"
                    .to_owned(),
                suggestions: ["brands", "stores", "categories"]
                    .map(str::to_owned)
                    .to_vec(),
                unknown: Vec::new(),
            }));
        }
        Intent::TopN
    } else if p.compare && p.dims.len() == 1 {
        Intent::Compare
    } else if p.trend || time_first.is_some() {
        match time_first {
            Some(i) => {
                let d = p.dims.remove(i);
                p.dims.insert(0, d);
            }
            None => p.dims.insert(0, Dimension::Day),
        }
        Intent::Trend
    } else {
        Intent::Aggregate
    };
    if intent == Intent::Crosstab && (p.dims.len() != 2 || p.measures.len() != 1) {
        return Err(ask(
            "A cross-tab needs two groupings and one measure, e.g. \"brand by daypart revenue\".",
        ));
    }
    let mut plan = Plan::new(intent, &p.dims, &p.measures);
    plan.as_of = Some(as_of);
    plan.filters.period = p.periods.pop();
    plan.filters.versus = versus;
    plan.filters.brands = brands;
    plan.filters.stores = p.stores;
    plan.filters.payment_methods = p.payments;
    plan.filters.dayparts = p.dayparts;
    // Genders as capture apps and files write them.
    plan.filters.genders = p
        .genders
        .iter()
        .flat_map(|g| match *g {
            "female" => ["female", "f", "babae", "woman"],
            _ => ["male", "m", "lalaki", "man"],
        })
        .map(str::to_owned)
        .collect();
    plan.filters.categories = p.categories;
    plan.filters.weekend = weekend;
    plan.filters.weekdays = p
        .weekdays
        .iter()
        .map(|d| WEEKDAY_NAMES[d.num_days_from_monday() as usize].to_owned())
        .collect();
    if plan.measures.contains(&Measure::UniqueCustomers) {
        notes.push(
            "customers: distinct customer ids, and each basket without one as a customer of its own"
                .to_owned(),
        );
    }
    if let Some(best_first) = p.top {
        plan.sort = Some(Sort {
            by: SortKey::Measure(p.measures[0]),
            descending: best_first,
        });
        plan.limit = Some(
            p.limit
                .unwrap_or(if p.which || p.singular { 1 } else { 10 }),
        );
        plan.with_ties = true;
    } else if let Some(n) = p.limit {
        plan.limit = Some(n);
    }
    if plan.sort.is_none()
        && let Some(descending) = p.order
    {
        plan.sort = Some(Sort {
            by: SortKey::Measure(p.measures[0]),
            descending,
        });
    }
    plan.validate()
        .map_err(|e| ask(format!("That question does not make a valid query: {e}.")))?;
    Ok(plan)
}

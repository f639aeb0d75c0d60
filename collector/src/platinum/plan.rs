//! The query plan: the contract between a question (or a caller who writes plans directly) and
//! the SQL that answers it. Nothing but a valid [`Plan`] reaches the generator; [`Plan::validate`]
//! says in plain words what is wrong with one that is not.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::dates::Period;

/// The most rows one answer may hold.
pub const MAX_LIMIT: u32 = 10_000;
/// The limit when a plan names none (top-N plans default to 10).
pub const DEFAULT_LIMIT: u32 = 1_000;
const MAX_LIST: usize = 50;
const MAX_VALUE_LEN: usize = 100;

/// What kind of answer is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Totals, optionally grouped.
    Aggregate,
    /// The best (or worst) few by a measure.
    TopN,
    /// Side by side values of one dimension (GCash vs cash).
    Compare,
    /// A measure over time (the first dimension is day, week or month).
    Trend,
    /// Two dimensions × one measure, with totals.
    Crosstab,
}

/// What rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    #[serde(alias = "date")]
    Day,
    Week,
    Month,
    Daypart,
    /// The hour of the day in Manila (`07:00`); silver alone has it.
    Hour,
    /// Weekday or weekend.
    DayType,
    /// The day of the week (`1 Monday` … `7 Sunday`, so they sort in the week's order).
    Weekday,
    Store,
    Device,
    Brand,
    Category,
    /// The product's name as sold (else its SKU); silver alone has it.
    Product,
    PaymentMethod,
    AgeBracket,
    Gender,
    BasketBand,
    /// Which of the plan's two periods (`period`, `versus`) a row falls in, as its first and
    /// last day (`2026-11-23 to 2026-11-29`); the plan's period when it has one.
    Period,
}

impl Dimension {
    pub const ALL: [Self; 17] = [
        Self::Day,
        Self::Week,
        Self::Month,
        Self::Daypart,
        Self::Hour,
        Self::DayType,
        Self::Weekday,
        Self::Store,
        Self::Device,
        Self::Brand,
        Self::Category,
        Self::Product,
        Self::PaymentMethod,
        Self::AgeBracket,
        Self::Gender,
        Self::BasketBand,
        Self::Period,
    ];

    /// The name plans, columns and query strings use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Daypart => "daypart",
            Self::Hour => "hour",
            Self::DayType => "day_type",
            Self::Weekday => "weekday",
            Self::Store => "store",
            Self::Device => "device",
            Self::Brand => "brand",
            Self::Category => "category",
            Self::Product => "product",
            Self::PaymentMethod => "payment_method",
            Self::AgeBracket => "age_bracket",
            Self::Gender => "gender",
            Self::BasketBand => "basket_band",
            Self::Period => "period",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        let name = if name == "date" { "day" } else { name };
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    pub fn is_time(self) -> bool {
        matches!(self, Self::Day | Self::Week | Self::Month)
    }
}

/// What is measured per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Gross sales in pesos.
    Revenue,
    /// Distinct transactions (baskets).
    Transactions,
    /// Items sold (sum of quantities).
    Units,
    /// Revenue per transaction, in pesos.
    AvgBasketPesos,
    /// Units per transaction.
    AvgBasketUnits,
    /// Distinct known customers plus one per anonymous basket.
    UniqueCustomers,
    /// A group's revenue as a percentage of the revenue of all the rows the filters keep.
    RevenueShare,
}

impl Measure {
    pub const ALL: [Self; 7] = [
        Self::Revenue,
        Self::Transactions,
        Self::Units,
        Self::AvgBasketPesos,
        Self::AvgBasketUnits,
        Self::UniqueCustomers,
        Self::RevenueShare,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Revenue => "revenue",
            Self::Transactions => "transactions",
            Self::Units => "units",
            Self::AvgBasketPesos => "avg_basket_pesos",
            Self::AvgBasketUnits => "avg_basket_units",
            Self::UniqueCustomers => "unique_customers",
            Self::RevenueShare => "revenue_share",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Which rows count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// The period, relative to the plan's `as_of`; all dates when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// A second period, compared with `period`: rows of either count, and the `period`
    /// dimension tells them apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versus: Option<Period>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub brands: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payment_methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dayparts: Vec<String>,
    /// Customers' genders as stored (`female`, `f`, …), compared without regard to case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub genders: Vec<String>,
    /// `true`: weekends only; `false`: weekdays only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekend: Option<bool>,
    /// Words of product names (`sardinas`): items whose name contains any of them, compared
    /// without regard to case. Silver alone has product names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<String>,
    /// Customers' age brackets as stored (`18-24`, `55+`), compared without regard to case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub age_brackets: Vec<String>,
    /// Days of the week, by English name (`sunday`): every such day in the period.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<String>,
}

/// The days of the week as filters name them, Monday first (ISO order).
pub const WEEKDAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// A weekday's ISO number (Monday 1 … Sunday 7), from its name in any case.
pub fn iso_weekday(name: &str) -> Option<i64> {
    let name = name.trim().to_lowercase();
    WEEKDAY_NAMES
        .iter()
        .position(|d| *d == name)
        .map(|i| i as i64 + 1)
}

/// A sort key: one of the plan's measures or dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortKey {
    Measure(Measure),
    Dimension(Dimension),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sort {
    pub by: SortKey,
    #[serde(default)]
    pub descending: bool,
}

/// A question, read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub intent: Intent,
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    pub measures: Vec<Measure>,
    #[serde(default)]
    pub filters: Filters,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<Sort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// A top-N's cut keeps the groups tied with the last one kept (two products that sold as
    /// much are both the least sold). Questions ask for it; a plan given whole cuts at `limit`
    /// unless it says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub with_ties: bool,
    /// The day relative periods count from (default: today in Asia/Manila).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<NaiveDate>,
}

/// Why a plan cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("a plan needs at least one measure")]
    NoMeasure,
    #[error("{0:?} appears twice")]
    Repeated(String),
    #[error("at most 3 dimensions, 6 measures")]
    TooWide,
    #[error("limit must be between 1 and {MAX_LIMIT}, not {0}")]
    Limit(u32),
    #[error("{intent} needs {needs}")]
    Shape {
        intent: &'static str,
        needs: &'static str,
    },
    #[error("sorting by {0} needs it among the plan's measures or dimensions")]
    SortKey(String),
    #[error("filter {field}: {why}")]
    Filter { field: &'static str, why: String },
    #[error("period: {0}")]
    Period(String),
}

impl Plan {
    /// A plan of `intent` over `dimensions` × `measures`, no filters.
    pub fn new(intent: Intent, dimensions: &[Dimension], measures: &[Measure]) -> Self {
        Self {
            intent,
            dimensions: dimensions.to_vec(),
            measures: measures.to_vec(),
            filters: Filters::default(),
            sort: None,
            limit: None,
            with_ties: false,
            as_of: None,
        }
    }

    /// Checks the plan's shape; the generator accepts only plans that pass.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.measures.is_empty() {
            return Err(PlanError::NoMeasure);
        }
        if self.dimensions.len() > 3 || self.measures.len() > 6 {
            return Err(PlanError::TooWide);
        }
        for (i, d) in self.dimensions.iter().enumerate() {
            if self.dimensions[..i].contains(d) {
                return Err(PlanError::Repeated(d.name().to_owned()));
            }
        }
        for (i, m) in self.measures.iter().enumerate() {
            if self.measures[..i].contains(m) {
                return Err(PlanError::Repeated(m.name().to_owned()));
            }
        }
        if let Some(limit) = self.limit
            && !(1..=MAX_LIMIT).contains(&limit)
        {
            return Err(PlanError::Limit(limit));
        }
        let shape = |needs| PlanError::Shape {
            intent: self.intent_name(),
            needs,
        };
        match self.intent {
            Intent::Aggregate => {}
            Intent::TopN | Intent::Compare if self.dimensions.len() != 1 => {
                return Err(shape("exactly one dimension"));
            }
            Intent::TopN | Intent::Compare => {}
            Intent::Trend if !self.dimensions.first().is_some_and(|d| d.is_time()) => {
                return Err(shape("day, week or month as its first dimension"));
            }
            Intent::Trend => {}
            Intent::Crosstab if self.dimensions.len() != 2 || self.measures.len() != 1 => {
                return Err(shape("two dimensions and one measure"));
            }
            Intent::Crosstab => {}
        }
        if let Some(sort) = self.sort {
            let known = match sort.by {
                SortKey::Measure(m) => self.measures.contains(&m),
                SortKey::Dimension(d) => self.dimensions.contains(&d),
            };
            if !known {
                return Err(PlanError::SortKey(sort.by.name().to_owned()));
            }
        }
        let f = &self.filters;
        for (field, list) in [
            ("brands", &f.brands),
            ("categories", &f.categories),
            ("stores", &f.stores),
            ("payment_methods", &f.payment_methods),
            ("dayparts", &f.dayparts),
            ("genders", &f.genders),
            ("products", &f.products),
            ("age_brackets", &f.age_brackets),
        ] {
            if list.len() > MAX_LIST {
                return Err(PlanError::Filter {
                    field,
                    why: format!("at most {MAX_LIST} values"),
                });
            }
            if let Some(v) = list
                .iter()
                .find(|v| v.trim().is_empty() || v.len() > MAX_VALUE_LEN)
            {
                return Err(PlanError::Filter {
                    field,
                    why: format!("{v:?} is empty or longer than {MAX_VALUE_LEN} bytes"),
                });
            }
        }
        if let Some(day) = f.weekdays.iter().find(|d| iso_weekday(d).is_none()) {
            return Err(PlanError::Filter {
                field: "weekdays",
                why: format!("{day:?} is not a day of the week (monday … sunday)"),
            });
        }
        if let Some(period) = &f.period {
            period.check().map_err(PlanError::Period)?;
        }
        if let Some(versus) = &f.versus {
            versus.check().map_err(PlanError::Period)?;
            if f.period.is_none() {
                return Err(PlanError::Period(
                    "versus needs a period to compare with".into(),
                ));
            }
        }
        Ok(())
    }

    /// The limit the query uses.
    pub fn effective_limit(&self) -> u32 {
        self.limit.unwrap_or(match self.intent {
            Intent::TopN => 10,
            _ => DEFAULT_LIMIT,
        })
    }

    fn intent_name(&self) -> &'static str {
        match self.intent {
            Intent::Aggregate => "aggregate",
            Intent::TopN => "top_n",
            Intent::Compare => "compare",
            Intent::Trend => "trend",
            Intent::Crosstab => "crosstab",
        }
    }
}

impl SortKey {
    pub fn name(self) -> &'static str {
        match self {
            Self::Measure(m) => m.name(),
            Self::Dimension(d) => d.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(json: &str) -> Result<Plan, String> {
        let plan: Plan = serde_json::from_str(json).map_err(|e| e.to_string())?;
        plan.validate().map_err(|e| e.to_string())?;
        Ok(plan)
    }

    #[test]
    fn a_plan_reads_from_json_and_validates() {
        let p = plan(
            r#"{"intent":"top_n","dimensions":["brand"],"measures":["revenue"],
                "filters":{"period":{"kind":"last_days","days":7},"stores":["102"]},
                "limit":5,"as_of":"2026-12-05"}"#,
        )
        .unwrap();
        assert_eq!(p.dimensions, [Dimension::Brand]);
        assert_eq!(p.effective_limit(), 5);
        assert_eq!(
            plan(r#"{"intent":"aggregate","dimensions":["date"],"measures":["units"]}"#)
                .unwrap()
                .dimensions,
            [Dimension::Day]
        );
    }

    #[test]
    fn bad_plans_say_why() {
        let cases = [
            (
                r#"{"intent":"aggregate","measures":[]}"#,
                "at least one measure",
            ),
            (
                r#"{"intent":"top_n","dimensions":["brand","store"],"measures":["revenue"]}"#,
                "exactly one dimension",
            ),
            (
                r#"{"intent":"crosstab","dimensions":["brand"],"measures":["revenue"]}"#,
                "two dimensions",
            ),
            (
                r#"{"intent":"trend","dimensions":["brand"],"measures":["revenue"]}"#,
                "day, week or month",
            ),
            (
                r#"{"intent":"aggregate","measures":["revenue"],"limit":0}"#,
                "between 1 and 10000",
            ),
            (
                r#"{"intent":"aggregate","measures":["revenue"],"limit":10001}"#,
                "between 1 and 10000",
            ),
            (
                r#"{"intent":"aggregate","measures":["revenue","revenue"]}"#,
                "twice",
            ),
            (
                r#"{"intent":"aggregate","measures":["revenue"],"sort":{"by":"units"}}"#,
                "sorting by units",
            ),
            (
                r#"{"intent":"aggregate","measures":["profit"]}"#,
                "unknown variant",
            ),
            (
                r#"{"intent":"aggregate","measures":["revenue"],"table":"bronze.x"}"#,
                "unknown field",
            ),
            (
                r#"{"intent":"aggregate","measures":["revenue"],
                    "filters":{"period":{"kind":"between","from":"2026-12-05","to":"2026-12-01"}}}"#,
                "after",
            ),
            (
                r#"{"intent":"aggregate","measures":["revenue"],"filters":{"brands":[""]}}"#,
                "empty",
            ),
        ];
        for (json, why) in cases {
            let err = plan(json).unwrap_err();
            assert!(err.contains(why), "{json}: {err}");
        }
    }
}

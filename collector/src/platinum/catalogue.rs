//! The catalogue: the only tables and column expressions generated SQL may name, spelled per
//! backend. A plan reaches data only through [`Source::dimension`], [`Source::measure`] and
//! [`Source::filter_column`]; nothing a caller writes becomes an identifier.

use super::plan::{Dimension, Filters, Measure, Plan};
use crate::store::Backend;

/// A table that can answer plans, smallest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `scout.scout_gold_transactions`: day × store × brand × category; additive revenue and
    /// units only (its transaction counts overlap across brands).
    Gold,
    /// `gold.customer_analytics`: day × store × daypart × day type × payment × basket band,
    /// whole baskets per row, so transaction counts add up.
    Customers,
    /// `gold.brand_daypart_analytics`: gold's grain × daypart × day type; additive revenue
    /// and units, and baskets counted per brand × category, per brand and per category (used
    /// where [`BasketFlag::for_plan`] fixes a brand or a category in every group).
    BrandDayparts,
    /// `gold.brand_payment_analytics`: gold's grain × day type × payment, counted as the
    /// brand × daypart rows are.
    BrandPayments,
    /// `gold.basket_analytics`: customer analytics' grain × age bracket × gender, whole
    /// baskets per row.
    Baskets,
    /// `silver.transactions_cleaned`: one row per item; answers everything.
    Silver,
}

/// The key of one basket in silver: its bronze row (bronze holds each device's transaction
/// once, and all of a basket's items come from that one row).
const BASKET: &str = "t.bronze_id";

impl Source {
    pub const ALL: [Self; 6] = [
        Self::Gold,
        Self::Customers,
        Self::BrandDayparts,
        Self::BrandPayments,
        Self::Baskets,
        Self::Silver,
    ];

    /// The table, in PostgreSQL's spelling (the store rewrites it for SQLite).
    pub fn table(self) -> &'static str {
        match self {
            Self::Gold => "scout.scout_gold_transactions",
            Self::Customers => "gold.customer_analytics",
            Self::BrandDayparts => "gold.brand_daypart_analytics",
            Self::BrandPayments => "gold.brand_payment_analytics",
            Self::Baskets => "gold.basket_analytics",
            Self::Silver => "silver.transactions_cleaned",
        }
    }

    /// The smallest source that can answer `plan`.
    pub fn for_plan(plan: &Plan) -> Self {
        Self::ALL
            .into_iter()
            .find(|s| s.answers(plan))
            .unwrap_or(Self::Silver)
    }

    fn answers(self, plan: &Plan) -> bool {
        let flag = BasketFlag::for_plan(plan);
        plan.dimensions.iter().all(|d| self.has_dimension(*d))
            && plan.measures.iter().all(|m| self.has_measure(*m, flag))
            && self.has_filters(&plan.filters)
    }

    fn has_dimension(self, d: Dimension) -> bool {
        use Dimension as D;
        // Every table has the day and the store; what else each has follows its grain.
        if matches!(
            d,
            D::Day | D::Week | D::Month | D::Weekday | D::Store | D::Period
        ) {
            return true;
        }
        let time_of_day = matches!(d, D::Daypart | D::DayType);
        let basket = time_of_day || matches!(d, D::PaymentMethod | D::BasketBand);
        let item = matches!(d, D::Brand | D::Category);
        match self {
            Self::Gold => item,
            Self::Customers => basket,
            Self::BrandDayparts => item || time_of_day,
            Self::BrandPayments => item || matches!(d, D::DayType | D::PaymentMethod),
            Self::Baskets => basket || matches!(d, D::AgeBracket | D::Gender),
            Self::Silver => true,
        }
    }

    fn has_measure(self, m: Measure, flag: Option<BasketFlag>) -> bool {
        use Measure as M;
        let baskets = matches!(m, M::Transactions | M::AvgBasketPesos | M::AvgBasketUnits);
        match self {
            _ if m == M::RevenueShare => self.has_measure(M::Revenue, flag),
            Self::Gold => matches!(m, M::Revenue | M::Units),
            // Its basket counts serve where a brand or a category is fixed in every group.
            Self::BrandDayparts | Self::BrandPayments => {
                matches!(m, M::Revenue | M::Units)
                    || (baskets && flag.is_some_and(|f| f != BasketFlag::Basket))
            }
            Self::Customers => baskets || m == M::Revenue,
            Self::Baskets => baskets || matches!(m, M::Revenue | M::Units),
            Self::Silver => true,
        }
    }

    fn has_filters(self, f: &Filters) -> bool {
        // Only baskets and silver know customers' genders and ages; only silver, product names.
        let customers_named = !f.genders.is_empty() || !f.age_brackets.is_empty();
        if customers_named && !matches!(self, Self::Baskets | Self::Silver) {
            return false;
        }
        if !f.products.is_empty() && self != Self::Silver {
            return false;
        }
        match self {
            Self::Gold => {
                f.payment_methods.is_empty() && f.dayparts.is_empty() && f.weekend.is_none()
            }
            Self::BrandDayparts => f.payment_methods.is_empty(),
            Self::BrandPayments => f.dayparts.is_empty(),
            Self::Silver => true,
            Self::Customers | Self::Baskets => f.brands.is_empty() && f.categories.is_empty(),
        }
    }

    /// The expression a dimension groups by, as text.
    pub fn dimension(self, d: Dimension, backend: Backend) -> &'static str {
        use Dimension as D;
        let pg = backend == Backend::Postgres;
        match d {
            D::Day if pg => "to_char(t.transaction_date, 'YYYY-MM-DD')",
            D::Day => "t.transaction_date",
            D::Week if pg => "to_char(date_trunc('week', t.transaction_date), 'YYYY-MM-DD')",
            D::Week => "date(t.transaction_date, 'weekday 0', '-6 days')",
            D::Month if pg => "to_char(t.transaction_date, 'YYYY-MM')",
            D::Month => "strftime('%Y-%m', t.transaction_date)",
            D::Daypart => "t.daypart",
            D::Hour if pg => "to_char(t.\"timestamp\" AT TIME ZONE 'Asia/Manila', 'HH24') || ':00'",
            D::Hour => "strftime('%H:00', t.\"timestamp\", '+8 hours')",
            D::Product => "coalesce(t.product_name, t.sku, 'Unknown')",
            D::DayType => "t.day_type",
            D::Weekday if pg => "to_char(t.transaction_date, 'ID FMDay')",
            D::Weekday => {
                "CASE CAST(strftime('%w', t.transaction_date) AS INTEGER) \
                 WHEN 1 THEN '1 Monday' WHEN 2 THEN '2 Tuesday' WHEN 3 THEN '3 Wednesday' \
                 WHEN 4 THEN '4 Thursday' WHEN 5 THEN '5 Friday' WHEN 6 THEN '6 Saturday' \
                 ELSE '7 Sunday' END"
            }
            D::Store => "t.store_id",
            D::Device => "t.device_id",
            // Silver's unresolved brand is NULL; gold labels it 'Unknown'. Both read 'Unknown'.
            D::Brand if self == Self::Silver => "coalesce(t.brand_name, 'Unknown')",
            D::Brand => "t.brand_name",
            D::Category => "t.product_category",
            D::PaymentMethod => "t.payment_method",
            D::AgeBracket => "t.age_bracket",
            D::Gender => "t.gender",
            D::BasketBand => "t.basket_band",
            // Labelled by the generator, which knows the plan's periods.
            D::Period => "t.transaction_date",
        }
    }

    /// The aggregate a measure is, typed so both backends return the same kind of value:
    /// revenue in centavos (BIGINT), counts (BIGINT), the rest DOUBLE PRECISION. `flag`
    /// ([`BasketFlag::for_plan`]) says how baskets are counted: on the silver rows that mark each
    /// basket once per group (or the analytics column counted on them), else as distinct keys.
    pub fn measure(self, m: Measure, flag: Option<BasketFlag>) -> String {
        use Measure as M;
        let counted = |column: &str| format!("coalesce(sum(t.{column}), 0)");
        let (revenue, units, transactions) = match self {
            Self::Silver => (
                "t.amount_centavos",
                "t.quantity",
                match flag {
                    Some(f) => format!("count(CASE WHEN t.{} THEN 1 END)", f.silver_column()),
                    None => format!("count(DISTINCT {BASKET})"),
                },
            ),
            Self::Gold => ("t.revenue_centavos", "t.units_sold", String::new()),
            Self::BrandDayparts | Self::BrandPayments => (
                "t.revenue_centavos",
                "t.units_sold",
                flag.and_then(BasketFlag::brand_analytics_column)
                    .map(counted)
                    .unwrap_or_default(),
            ),
            Self::Baskets => (
                "t.revenue_centavos",
                "t.units_sold",
                counted("transaction_count"),
            ),
            Self::Customers => ("t.revenue_centavos", "", counted("transaction_count")),
        };
        match m {
            M::Revenue => format!("CAST(coalesce(sum({revenue}), 0) AS BIGINT)"),
            // The window sums the groups' sums: every row the filters keep.
            M::RevenueShare => format!(
                "CAST(coalesce(sum({revenue}), 0) AS DOUBLE PRECISION) * 100.0 \
                 / nullif(sum(sum({revenue})) OVER (), 0)"
            ),
            M::Units => format!("CAST(coalesce(sum({units}), 0) AS DOUBLE PRECISION)"),
            M::Transactions => format!("CAST({transactions} AS BIGINT)"),
            M::AvgBasketPesos => format!(
                "CAST(sum({revenue}) AS DOUBLE PRECISION) / 100.0 / nullif({transactions}, 0)"
            ),
            M::AvgBasketUnits if self == Self::Customers => {
                "sum(t.avg_basket_units * t.transaction_count) \
                 / nullif(sum(t.transaction_count), 0)"
                    .to_owned()
            }
            M::AvgBasketUnits => {
                format!("CAST(sum({units}) AS DOUBLE PRECISION) / nullif({transactions}, 0)")
            }
            M::UniqueCustomers if flag.is_some() => format!(
                "CAST(count(DISTINCT t.customer_id) + count(CASE WHEN t.{} AND \
                 t.customer_id IS NULL THEN 1 END) AS BIGINT)",
                flag.map_or("", BasketFlag::silver_column)
            ),
            M::UniqueCustomers => format!(
                "CAST(count(DISTINCT t.customer_id) + count(DISTINCT CASE WHEN \
                 t.customer_id IS NULL THEN {BASKET} END) AS BIGINT)"
            ),
        }
    }

    /// The day's ISO weekday number (Monday 1 … Sunday 7), as an integer.
    pub fn iso_weekday(backend: Backend) -> &'static str {
        match backend {
            Backend::Postgres => "CAST(extract(isodow FROM t.transaction_date) AS INTEGER)",
            Backend::Sqlite => {
                "((CAST(strftime('%w', t.transaction_date) AS INTEGER) + 6) % 7 + 1)"
            }
        }
    }

    /// The column a list filter compares with (lower-cased on both sides).
    pub fn filter_column(self, field: FilterField) -> &'static str {
        match field {
            FilterField::Brand if self == Self::Silver => "coalesce(t.brand_name, 'Unknown')",
            FilterField::Brand => "t.brand_name",
            FilterField::Category => "t.product_category",
            FilterField::Store => "t.store_id",
            FilterField::PaymentMethod => "t.payment_method",
            FilterField::Daypart => "t.daypart",
            FilterField::DayType => "t.day_type",
            FilterField::Gender => "t.gender",
            FilterField::AgeBracket => "t.age_bracket",
        }
    }
}

/// The silver flag that marks each basket once within every group of a plan, so baskets are
/// counted with a plain sum rather than as distinct keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasketFlag {
    /// Neither brand nor category groups or filters: whole baskets (`first_in_basket`).
    Basket,
    /// Brand and category each fixed in every group (`first_in_group`).
    BrandCategory,
    /// The brand fixed, categories neither grouped nor filtered (`first_in_brand`).
    Brand,
    /// The category fixed, brands neither grouped nor filtered (`first_in_category`).
    Category,
}

impl BasketFlag {
    /// The flag for `plan`, if one counts its baskets exactly. A brand or category is fixed in
    /// every group when it is a dimension or the filter names one value; a filter of several
    /// values, with the other neither fixed nor free, leaves distinct keys to count.
    pub fn for_plan(plan: &Plan) -> Option<Self> {
        let f = &plan.filters;
        let grouped = |d| plan.dimensions.contains(&d);
        let brand_fixed = grouped(Dimension::Brand) || f.brands.len() == 1;
        let brand_free = !grouped(Dimension::Brand) && f.brands.is_empty();
        let category_fixed = grouped(Dimension::Category) || f.categories.len() == 1;
        let category_free = !grouped(Dimension::Category) && f.categories.is_empty();
        if brand_free && category_free {
            Some(Self::Basket)
        } else if brand_fixed && category_fixed {
            Some(Self::BrandCategory)
        } else if brand_fixed && category_free {
            Some(Self::Brand)
        } else if category_fixed && brand_free {
            Some(Self::Category)
        } else {
            None
        }
    }

    fn silver_column(self) -> &'static str {
        match self {
            Self::Basket => "first_in_basket",
            Self::BrandCategory => "first_in_group",
            Self::Brand => "first_in_brand",
            Self::Category => "first_in_category",
        }
    }

    /// The brand × daypart and brand × payment analytics column that counts baskets this way.
    fn brand_analytics_column(self) -> Option<&'static str> {
        match self {
            Self::Basket => None,
            Self::BrandCategory => Some("transaction_count"),
            Self::Brand => Some("brand_transactions"),
            Self::Category => Some("category_transactions"),
        }
    }
}

/// The fields filters compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterField {
    Brand,
    Category,
    Store,
    PaymentMethod,
    Daypart,
    DayType,
    Gender,
    AgeBracket,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platinum::plan::Intent;

    #[test]
    fn the_smallest_table_that_can_answer_is_chosen() {
        let mut p = Plan::new(Intent::TopN, &[Dimension::Brand], &[Measure::Revenue]);
        assert_eq!(Source::for_plan(&p), Source::Gold);
        p.filters.weekend = Some(true);
        assert_eq!(Source::for_plan(&p), Source::BrandDayparts);
        p.filters.payment_methods = vec!["Maya".into()];
        assert_eq!(Source::for_plan(&p), Source::BrandPayments);
        p.filters.stores = vec!["store-102".into()];
        assert_eq!(Source::for_plan(&p), Source::BrandPayments);
        p.filters.dayparts = vec!["evening".into()];
        assert_eq!(Source::for_plan(&p), Source::Silver);
        let p = Plan::new(
            Intent::Compare,
            &[Dimension::PaymentMethod],
            &[Measure::Transactions, Measure::AvgBasketPesos],
        );
        assert_eq!(Source::for_plan(&p), Source::Customers);
        // Baskets per brand: counted once per brand in the brand × daypart table, unless the
        // categories are narrowed to several (a basket may hold two of them).
        let mut p = Plan::new(
            Intent::Aggregate,
            &[Dimension::Brand],
            &[Measure::Transactions],
        );
        assert_eq!(BasketFlag::for_plan(&p), Some(BasketFlag::Brand));
        assert_eq!(Source::for_plan(&p), Source::BrandDayparts);
        p.filters.categories = vec!["Snacks".into()];
        assert_eq!(BasketFlag::for_plan(&p), Some(BasketFlag::BrandCategory));
        assert_eq!(Source::for_plan(&p), Source::BrandDayparts);
        p.filters.categories.push("Beverages".into());
        assert_eq!(BasketFlag::for_plan(&p), None);
        assert_eq!(Source::for_plan(&p), Source::Silver);
        let mut p = Plan::new(
            Intent::Aggregate,
            &[Dimension::Category],
            &[Measure::AvgBasketUnits],
        );
        assert_eq!(BasketFlag::for_plan(&p), Some(BasketFlag::Category));
        assert_eq!(Source::for_plan(&p), Source::BrandDayparts);
        p.filters.brands = vec!["Piattos".into(), "Nova".into()];
        assert_eq!(BasketFlag::for_plan(&p), None);
        assert_eq!(Source::for_plan(&p), Source::Silver);
        let p = Plan::new(Intent::Aggregate, &[], &[Measure::UniqueCustomers]);
        assert_eq!(Source::for_plan(&p), Source::Silver);
        // Brands by time of day: the brand × daypart table, unless a payment filter needs
        // items; by payment method: the brand × payment table, unless a device does.
        let mut p = Plan::new(
            Intent::Crosstab,
            &[Dimension::Brand, Dimension::Daypart],
            &[Measure::Revenue],
        );
        assert_eq!(Source::for_plan(&p), Source::BrandDayparts);
        p.filters.weekend = Some(false);
        assert_eq!(Source::for_plan(&p), Source::BrandDayparts);
        p.filters.payment_methods = vec!["GCash".into()];
        assert_eq!(Source::for_plan(&p), Source::Silver);
        let mut p = Plan::new(
            Intent::Crosstab,
            &[Dimension::Brand, Dimension::PaymentMethod],
            &[Measure::Transactions],
        );
        assert_eq!(Source::for_plan(&p), Source::BrandPayments);
        p.filters.weekend = Some(true);
        assert_eq!(Source::for_plan(&p), Source::BrandPayments);
        p.dimensions.push(Dimension::Device);
        assert_eq!(Source::for_plan(&p), Source::Silver);
        // Shoppers: basket analytics, which cannot split baskets by brand.
        let mut p = Plan::new(
            Intent::Aggregate,
            &[Dimension::AgeBracket, Dimension::Gender],
            &[
                Measure::Transactions,
                Measure::Units,
                Measure::AvgBasketPesos,
            ],
        );
        assert_eq!(Source::for_plan(&p), Source::Baskets);
        p.filters.brands = vec!["Bear Brand".into()];
        assert_eq!(Source::for_plan(&p), Source::Silver);
        let p = Plan::new(
            Intent::Aggregate,
            &[Dimension::Gender],
            &[Measure::UniqueCustomers],
        );
        assert_eq!(Source::for_plan(&p), Source::Silver);
    }
}

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
    /// and units only, like gold.
    BrandDayparts,
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
    pub const ALL: [Self; 5] = [
        Self::Gold,
        Self::Customers,
        Self::BrandDayparts,
        Self::Baskets,
        Self::Silver,
    ];

    /// The table, in PostgreSQL's spelling (the store rewrites it for SQLite).
    pub fn table(self) -> &'static str {
        match self {
            Self::Gold => "scout.scout_gold_transactions",
            Self::Customers => "gold.customer_analytics",
            Self::BrandDayparts => "gold.brand_daypart_analytics",
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
        plan.dimensions.iter().all(|d| self.has_dimension(*d))
            && plan.measures.iter().all(|m| self.has_measure(*m))
            && self.has_filters(&plan.filters)
    }

    fn has_dimension(self, d: Dimension) -> bool {
        use Dimension as D;
        match self {
            Self::Gold => matches!(
                d,
                D::Day | D::Week | D::Month | D::Store | D::Brand | D::Category
            ),
            Self::Customers => matches!(
                d,
                D::Day
                    | D::Week
                    | D::Month
                    | D::Store
                    | D::Daypart
                    | D::DayType
                    | D::PaymentMethod
                    | D::BasketBand
            ),
            Self::BrandDayparts => matches!(
                d,
                D::Day
                    | D::Week
                    | D::Month
                    | D::Store
                    | D::Daypart
                    | D::DayType
                    | D::Brand
                    | D::Category
            ),
            Self::Baskets => matches!(
                d,
                D::Day
                    | D::Week
                    | D::Month
                    | D::Store
                    | D::Daypart
                    | D::DayType
                    | D::PaymentMethod
                    | D::BasketBand
                    | D::AgeBracket
                    | D::Gender
            ),
            Self::Silver => true,
        }
    }

    fn has_measure(self, m: Measure) -> bool {
        use Measure as M;
        match self {
            Self::Gold | Self::BrandDayparts => matches!(m, M::Revenue | M::Units),
            Self::Customers => matches!(
                m,
                M::Revenue | M::Transactions | M::AvgBasketPesos | M::AvgBasketUnits
            ),
            Self::Baskets => matches!(
                m,
                M::Revenue | M::Transactions | M::Units | M::AvgBasketPesos | M::AvgBasketUnits
            ),
            Self::Silver => true,
        }
    }

    fn has_filters(self, f: &Filters) -> bool {
        match self {
            Self::Gold => {
                f.payment_methods.is_empty() && f.dayparts.is_empty() && f.weekend.is_none()
            }
            Self::BrandDayparts => f.payment_methods.is_empty(),
            Self::Customers | Self::Baskets => f.brands.is_empty() && f.categories.is_empty(),
            Self::Silver => true,
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
            D::DayType => "t.day_type",
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
        }
    }

    /// The aggregate a measure is, typed so both backends return the same kind of value:
    /// revenue in centavos (BIGINT), counts (BIGINT), the rest DOUBLE PRECISION.
    /// `whole_baskets`: every group and filter keeps a basket's items together (no brand or
    /// category among the dimensions or filters), so silver counts baskets by their first row
    /// (`first_in_basket`) instead of counting distinct keys.
    pub fn measure(self, m: Measure, whole_baskets: bool) -> String {
        use Measure as M;
        let baskets = if whole_baskets {
            "count(CASE WHEN t.first_in_basket THEN 1 END)".to_owned()
        } else {
            format!("count(DISTINCT {BASKET})")
        };
        let (revenue, units, transactions) = match self {
            Self::Silver => ("t.amount_centavos", "t.quantity", baskets),
            Self::Gold | Self::BrandDayparts => {
                ("t.revenue_centavos", "t.units_sold", String::new())
            }
            Self::Baskets => (
                "t.revenue_centavos",
                "t.units_sold",
                "coalesce(sum(t.transaction_count), 0)".to_owned(),
            ),
            Self::Customers => (
                "t.revenue_centavos",
                "",
                "coalesce(sum(t.transaction_count), 0)".to_owned(),
            ),
        };
        match m {
            M::Revenue => format!("CAST(coalesce(sum({revenue}), 0) AS BIGINT)"),
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
            M::UniqueCustomers if whole_baskets => "CAST(count(DISTINCT t.customer_id) + \
                 count(CASE WHEN t.first_in_basket AND t.customer_id IS NULL THEN 1 END) \
                 AS BIGINT)"
                .to_owned(),
            M::UniqueCustomers => format!(
                "CAST(count(DISTINCT t.customer_id) + count(DISTINCT CASE WHEN \
                 t.customer_id IS NULL THEN {BASKET} END) AS BIGINT)"
            ),
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
        assert_eq!(Source::for_plan(&p), Source::Silver);
        let p = Plan::new(
            Intent::Compare,
            &[Dimension::PaymentMethod],
            &[Measure::Transactions, Measure::AvgBasketPesos],
        );
        assert_eq!(Source::for_plan(&p), Source::Customers);
        let p = Plan::new(
            Intent::Aggregate,
            &[Dimension::Brand],
            &[Measure::Transactions],
        );
        assert_eq!(Source::for_plan(&p), Source::Silver);
        let p = Plan::new(Intent::Aggregate, &[], &[Measure::UniqueCustomers]);
        assert_eq!(Source::for_plan(&p), Source::Silver);
        // Brands by time of day: the brand × daypart table, unless a payment filter needs items.
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

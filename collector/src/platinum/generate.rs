//! SQL from a validated plan and the catalogue alone: identifiers come only from
//! [`Source`]'s fixed expressions, every value a caller gave travels as a bound parameter, and
//! every query ends in a `LIMIT` no larger than [`MAX_LIMIT`](super::plan::MAX_LIMIT).

use chrono::NaiveDate;

use super::catalogue::{BasketFlag, FilterField, Source};
use super::plan::{Dimension, Intent, MAX_LIMIT, Measure, Plan, SortKey, iso_weekday};
use crate::store::{Arg, Backend};

/// A value bound to a generated query.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Date(NaiveDate),
    Int(i64),
}

impl Param {
    pub fn arg(&self) -> Arg<'_> {
        match self {
            Self::Text(t) => Arg::from(t.as_str()),
            Self::Date(d) => Arg::from(*d),
            Self::Int(i) => Arg::from(*i),
        }
    }
}

/// One output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Dimension(Dimension),
    Measure(Measure),
}

impl Output {
    pub fn name(self) -> &'static str {
        match self {
            Self::Dimension(d) => d.name(),
            Self::Measure(m) => m.name(),
        }
    }
}

/// A generated query: its text (PostgreSQL spelling, table names rewritten by the store for
/// SQLite), its parameters, and its columns in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub sql: String,
    pub params: Vec<Param>,
    pub columns: Vec<Output>,
    pub source: Source,
    /// The period the query covers, when the plan named one.
    pub period: Option<(NaiveDate, NaiveDate)>,
}

impl Query {
    pub fn args(&self) -> Vec<Arg<'_>> {
        self.params.iter().map(Param::arg).collect()
    }
}

/// Builds the SQL for `plan` (which must have passed [`Plan::validate`]) on `backend`, with
/// relative periods counted from `as_of`.
pub fn generate(plan: &Plan, backend: Backend, as_of: NaiveDate) -> Query {
    let source = Source::for_plan(plan);
    let mut params = Vec::new();
    let mut bind = |p: Param| {
        params.push(p);
        format!("${}", params.len())
    };

    let as_of = plan.as_of.unwrap_or(as_of);
    let f = &plan.filters;
    let period = f.period.map(|p| p.resolve(as_of));
    let versus = f.versus.map(|p| p.resolve(as_of));
    let mut select = Vec::new();
    let mut columns = Vec::new();
    for (i, d) in plan.dimensions.iter().enumerate() {
        let expr = match (d, period) {
            (Dimension::Period, Some(span @ (from, to))) => {
                let label = |(a, b): (NaiveDate, NaiveDate)| format!("{a} to {b}");
                let (from, to) = (bind(Param::Date(from)), bind(Param::Date(to)));
                let this = bind(Param::Text(label(span)));
                // Rows outside `period` are `versus`'s (the filter keeps no others).
                let other = bind(Param::Text(versus.map(label).unwrap_or_default()));
                format!(
                    "CASE WHEN t.transaction_date BETWEEN {from} AND {to} \
                     THEN CAST({this} AS TEXT) ELSE CAST({other} AS TEXT) END"
                )
            }
            (Dimension::Period, None) => "CAST('all dates' AS TEXT)".to_owned(),
            _ => source.dimension(*d, backend).to_owned(),
        };
        select.push(format!("{expr} AS d{i}"));
        columns.push(Output::Dimension(*d));
    }
    let flag = BasketFlag::for_plan(plan);
    for (i, m) in plan.measures.iter().enumerate() {
        select.push(format!("{} AS m{i}", source.measure(*m, flag)));
        columns.push(Output::Measure(*m));
    }

    let mut wheres = Vec::new();
    let mut spans = Vec::new();
    for (from, to) in period.into_iter().chain(versus) {
        let from = bind(Param::Date(from));
        let to = bind(Param::Date(to));
        spans.push(format!("t.transaction_date BETWEEN {from} AND {to}"));
    }
    match spans.as_slice() {
        [] => {}
        [one] => wheres.push(one.clone()),
        both => wheres.push(format!("({})", both.join(" OR "))),
    }
    for (field, list) in [
        (FilterField::Brand, &f.brands),
        (FilterField::Category, &f.categories),
        (FilterField::Store, &f.stores),
        (FilterField::PaymentMethod, &f.payment_methods),
        (FilterField::Daypart, &f.dayparts),
        (FilterField::Gender, &f.genders),
        (FilterField::AgeBracket, &f.age_brackets),
    ] {
        if list.is_empty() {
            continue;
        }
        let values: Vec<String> = list
            .iter()
            .map(|v| bind(Param::Text(v.trim().to_lowercase())))
            .collect();
        wheres.push(format!(
            "lower({}) IN ({})",
            source.filter_column(field),
            values.join(", ")
        ));
    }
    if let Some(weekend) = f.weekend {
        let value = bind(Param::Text(
            if weekend { "weekend" } else { "weekday" }.to_owned(),
        ));
        wheres.push(format!(
            "{} = {value}",
            source.filter_column(FilterField::DayType)
        ));
    }

    if !f.products.is_empty() {
        // `%` and `_` in a word are themselves, not patterns.
        let likes: Vec<String> = f
            .products
            .iter()
            .map(|w| {
                let escaped = w
                    .trim()
                    .to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                let value = bind(Param::Text(format!("%{escaped}%")));
                format!("lower(t.product_name) LIKE {value} ESCAPE '\\'")
            })
            .collect();
        wheres.push(format!("({})", likes.join(" OR ")));
    }
    if !f.weekdays.is_empty() {
        let days: Vec<String> = f
            .weekdays
            .iter()
            .filter_map(|d| iso_weekday(d))
            .map(|n| bind(Param::Int(n)))
            .collect();
        wheres.push(format!(
            "{} IN ({})",
            Source::iso_weekday(backend),
            days.join(", ")
        ));
    }

    let mut sql = format!("SELECT {} FROM {} t", select.join(", "), source.table());
    if !wheres.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&wheres.join(" AND "));
    }
    if !plan.dimensions.is_empty() {
        let groups: Vec<String> = (1..=plan.dimensions.len()).map(|i| i.to_string()).collect();
        sql.push_str(" GROUP BY ");
        sql.push_str(&groups.join(", "));
    }
    // Sorted outside, so the sort can name the output columns in expressions (PostgreSQL
    // allows bare aliases only).
    let order = order_by(plan);
    if plan.intent == Intent::TopN {
        // A ranking ranks what was recorded: rows whose group is unknown (no age bracket
        // written) are not a contender. With ties, its cut keeps them: the top 1 of two
        // products that sold as much is both of them, not whichever sorts first.
        let outputs: Vec<String> = (0..plan.dimensions.len())
            .map(|i| format!("d{i}"))
            .chain((0..plan.measures.len()).map(|i| format!("m{i}")))
            .collect();
        let cut = bind(Param::Int(i64::from(plan.effective_limit())));
        // Ranked by the sort key alone, equal keys share a rank; numbered in the full order,
        // they do not.
        let (rank, by) = if plan.with_ties {
            ("rank", &order[..2.min(order.len())])
        } else {
            ("row_number", &order[..])
        };
        sql = format!(
            "SELECT {} FROM (SELECT q.*, {rank}() OVER (ORDER BY {}) AS tie_rank FROM ({sql}) \
             q WHERE d0 IS NOT NULL AND d0 <> '') q WHERE tie_rank <= {cut} ORDER BY ",
            outputs.join(", "),
            by.join(", ")
        );
        sql.push_str(&order.join(", "));
        let cap = bind(Param::Int(i64::from(MAX_LIMIT)));
        sql.push_str(" LIMIT ");
        sql.push_str(&cap);
    } else {
        sql = format!("SELECT * FROM ({sql}) q ORDER BY ");
        sql.push_str(&order.join(", "));
        let limit = bind(Param::Int(i64::from(plan.effective_limit())));
        sql.push_str(" LIMIT ");
        sql.push_str(&limit);
    }
    Query {
        sql,
        params,
        columns,
        source,
        period,
    }
}

/// The sort: the plan's key, else the intent's natural order (top-N by its first measure,
/// largest first; otherwise by the dimensions), then every dimension for a stable order. NULLs
/// sort last on both backends.
fn order_by(plan: &Plan) -> Vec<String> {
    let alias = |key: SortKey| match key {
        SortKey::Measure(m) => {
            let i = plan.measures.iter().position(|x| *x == m).unwrap_or(0);
            format!("m{i}")
        }
        SortKey::Dimension(d) => {
            let i = plan.dimensions.iter().position(|x| *x == d).unwrap_or(0);
            format!("d{i}")
        }
    };
    let natural = match plan.intent {
        Intent::TopN => plan.measures.first().map(|m| (SortKey::Measure(*m), true)),
        _ => None,
    };
    let mut keys = Vec::new();
    if let Some((key, descending)) = plan.sort.map(|s| (s.by, s.descending)).or(natural) {
        let a = alias(key);
        keys.push(format!("({a} IS NULL)"));
        keys.push(if descending { format!("{a} DESC") } else { a });
    }
    for i in 0..plan.dimensions.len() {
        keys.push(format!("(d{i} IS NULL)"));
        keys.push(format!("d{i}"));
    }
    if keys.is_empty() {
        keys.push("1".to_owned());
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platinum::dates::Period;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn top_brands_by_revenue_come_from_gold() {
        let mut plan = Plan::new(Intent::TopN, &[Dimension::Brand], &[Measure::Revenue]);
        plan.filters.period = Some(Period::Yesterday);
        plan.filters.stores = vec!["102".into()];
        plan.limit = Some(5);
        let q = generate(&plan, Backend::Postgres, d("2026-12-05"));
        assert_eq!(
            q.sql,
            "SELECT d0, m0 FROM (SELECT q.*, row_number() OVER (ORDER BY (m0 IS NULL), m0 DESC, \
             (d0 IS NULL), d0) AS tie_rank FROM (SELECT t.brand_name AS d0, CAST(coalesce(sum(t.revenue_centavos), \
             0) AS BIGINT) AS m0 FROM scout.scout_gold_transactions t WHERE t.transaction_date \
             BETWEEN $1 AND $2 AND lower(t.store_id) IN ($3) GROUP BY 1) q WHERE d0 IS NOT \
             NULL AND d0 <> '') q WHERE tie_rank <= $4 ORDER BY (m0 IS NULL), m0 DESC, \
             (d0 IS NULL), d0 LIMIT $5"
        );
        assert_eq!(
            q.params,
            [
                Param::Date(d("2026-12-04")),
                Param::Date(d("2026-12-04")),
                Param::Text("102".into()),
                Param::Int(5),
                Param::Int(i64::from(MAX_LIMIT))
            ]
        );
        assert_eq!(q.source, Source::Gold);
    }

    #[test]
    fn values_never_enter_the_text() {
        let mut plan = Plan::new(Intent::Aggregate, &[Dimension::Week], &[Measure::Units]);
        let hostile = "x'); DROP TABLE bronze.raw_transactions; --";
        plan.filters.brands = vec![hostile.into()];
        plan.filters.payment_methods = vec!["GCash".into()];
        for backend in [Backend::Postgres, Backend::Sqlite] {
            let q = generate(&plan, backend, d("2026-12-05"));
            assert!(!q.sql.contains("DROP"), "{}", q.sql);
            assert!(!q.sql.contains("gcash"), "{}", q.sql);
            assert_eq!(q.source, Source::BrandPayments);
            assert!(q.params.contains(&Param::Text(hostile.to_lowercase())));
            assert!(q.params.contains(&Param::Text("gcash".into())));
        }
        let sqlite = generate(&plan, Backend::Sqlite, d("2026-12-05"));
        assert!(
            sqlite.sql.starts_with(
                "SELECT * FROM (SELECT date(t.transaction_date, 'weekday 0', '-6 days')"
            )
        );
    }

    #[test]
    fn the_weekend_filter_and_basket_measures_use_silver_or_customers() {
        let mut plan = Plan::new(
            Intent::Compare,
            &[Dimension::PaymentMethod],
            &[Measure::AvgBasketPesos],
        );
        plan.filters.dayparts = vec!["evening".into()];
        let q = generate(&plan, Backend::Postgres, d("2026-12-05"));
        assert_eq!(q.source, Source::Customers);
        assert!(
            q.sql
                .contains("FROM gold.customer_analytics t WHERE lower(t.daypart) IN ($1)")
        );
        assert!(
            q.sql.ends_with("ORDER BY (d0 IS NULL), d0 LIMIT $2"),
            "{}",
            q.sql
        );
        plan.filters.weekend = Some(false);
        // A category by payment method in the evenings: no analytics table has both.
        plan.filters.categories = vec!["Snacks".into()];
        let q = generate(&plan, Backend::Postgres, d("2026-12-05"));
        assert_eq!(q.source, Source::Silver);
        assert!(q.sql.contains("t.day_type = $3"), "{}", q.sql);
        assert_eq!(q.params[2], Param::Text("weekday".into()));
        // Without the daypart, its baskets are counted in the brand × payment table.
        plan.filters.dayparts.clear();
        let q = generate(&plan, Backend::Postgres, d("2026-12-05"));
        assert_eq!(q.source, Source::BrandPayments);
        assert!(q.sql.contains("t.category_transactions"), "{}", q.sql);
    }
}

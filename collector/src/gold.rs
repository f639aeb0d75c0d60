//! Gold: daily business KPIs and behavioural analytics, rebuilt from silver per (business day,
//! store) partition. The SQL lives in `store/gold.rs`; this module states what it means
//! and formats it for people.
//!
//! **Enters:** the silver rows of the partitions queued in `metadata.gold_pending` (by the
//! silver stage, for every partition it wrote or replaced rows in).
//!
//! **Leaves**, for each claimed partition, after deleting what was there:
//! - `scout.scout_gold_transactions`, one row per day × store × brand × category:
//!   `revenue_peso` (the sum of silver `amount`; `revenue_centavos` the same in exact centavos),
//!   `transaction_count` (transactions with an item of that brand and category),
//!   `unique_customers` (distinct `customer_id`; a transaction without one counts as its own
//!   customer), `avg_basket_size` (mean units in those transactions' whole baskets),
//!   `units_sold`, `item_rows`.
//! - `gold.product_analytics`, one row per day × store × category × brand: revenue, units,
//!   transactions, average unit price, the brand's share of its category's and of the store's
//!   revenue, its rank within the category (ties broken by name), and the mean item quality.
//! - `gold.customer_analytics`, one row per day × store × daypart × weekday/weekend ×
//!   payment method × basket band (dayparts in Asia/Manila time: morning 06–11, afternoon
//!   12–17, evening 18–21, night otherwise; bands of basket units: 1, 2-3, 4-6, 7+):
//!   transactions, unique customers, revenue, average basket value and units.
//! - `gold.basket_analytics`, customer analytics' grain × age bracket × gender (NULL where
//!   silver has none): transactions, revenue, units. Whole baskets per row, so every figure adds
//!   up over any of its dimensions; platinum answers questions about shoppers from it.
//! - `gold.brand_daypart_analytics`, gold's grain × daypart × weekday/weekend: revenue, units
//!   and item rows, which add up over any of its dimensions, and baskets counted per brand ×
//!   category (`transaction_count`), per brand (`brand_transactions`: summed over a brand's
//!   categories, its baskets each once) and per category (`category_transactions`); platinum
//!   answers questions about brands and categories from it.
//! - `gold.brand_payment_analytics`, gold's grain × weekday/weekend × payment method: the same
//!   figures, for questions about brands and categories by payment method.
//!
//! **Guarantees:** a partition is rebuilt whole from silver in one transaction, so a day's gold
//! revenue equals the sum of that day's silver amounts exactly (centavos are integers on both
//! backends, pesos are `numeric` on PostgreSQL), a re-run gives the same rows, and a late
//! transaction for an old day re-queues that day. Money is summed exactly; averages and unit
//! sums are rounded to 4 decimals, so two collectors sharing a database write the same figures
//! as one (the scale-out test compares them). Transactions and baskets are counted on silver's
//! `first_in_group` / `first_in_basket` rows. The basket, brand × daypart and brand × payment
//! tables are one pass each over the partitions' silver rows (on PostgreSQL a plain `SELECT`
//! each, which the database may run with parallel workers); gold is rolled up from the brand ×
//! daypart rows, customer analytics from the basket rows (both count known customers from the
//! few silver rows with a customer id), product analytics from gold.

use std::fmt::Write as _;

use chrono::NaiveDate;

use crate::store::GoldRow;

/// Centavos as pesos with thousands separators: `₱12,345.60`.
pub fn pesos(centavos: i64) -> String {
    let sign = if centavos < 0 { "-" } else { "" };
    let c = centavos.unsigned_abs();
    let whole = (c / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}₱{grouped}.{:02}", c % 100)
}

/// A day's gold rows as a table per store, each with its revenue total.
pub fn kpi_table(date: NaiveDate, rows: &[GoldRow]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        let _ = writeln!(out, "No gold rows for {date}.");
        return out;
    }
    let mut start = 0;
    while start < rows.len() {
        let store = &rows[start].store_id;
        let end = rows[start..]
            .iter()
            .position(|r| &r.store_id != store)
            .map_or(rows.len(), |n| start + n);
        let part = &rows[start..end];
        let revenue: i64 = part.iter().map(|r| r.revenue_centavos).sum();
        let _ = writeln!(
            out,
            "Store {store}, {date}: {} across {} brand × category rows",
            pesos(revenue),
            part.len()
        );
        let _ = writeln!(
            out,
            "  {:<22} {:<18} {:>13} {:>6} {:>9} {:>7}",
            "BRAND", "CATEGORY", "REVENUE", "TXNS", "CUSTOMERS", "BASKET"
        );
        for r in part {
            let _ = writeln!(
                out,
                "  {:<22} {:<18} {:>13} {:>6} {:>9} {:>7.2}",
                truncate(&r.brand_name, 22),
                truncate(&r.product_category, 18),
                pesos(r.revenue_centavos),
                r.transaction_count,
                r.unique_customers,
                r.avg_basket_size
            );
        }
        let _ = writeln!(out);
        start = end;
    }
    out
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(width - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pesos_are_grouped_and_exact() {
        assert_eq!(pesos(0), "₱0.00");
        assert_eq!(pesos(5), "₱0.05");
        assert_eq!(pesos(123_456_789), "₱1,234,567.89");
        assert_eq!(pesos(-1050), "-₱10.50");
    }

    #[test]
    fn table_groups_rows_by_store() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let row = |store: &str, brand: &str, c: i64| GoldRow {
            transaction_date: day,
            store_id: store.into(),
            brand_name: brand.into(),
            product_category: "Beverages".into(),
            revenue_centavos: c,
            transaction_count: 2,
            unique_customers: 2,
            avg_basket_size: 3.5,
            units_sold: 4.0,
        };
        let text = kpi_table(
            day,
            &[
                row("101", "Coca-Cola", 5000),
                row("101", "Royal", 2500),
                row("102", "Sprite", 1000),
            ],
        );
        assert!(
            text.contains("Store 101, 2026-11-27: ₱75.00 across 2"),
            "{text}"
        );
        assert!(
            text.contains("Store 102, 2026-11-27: ₱10.00 across 1"),
            "{text}"
        );
        assert_eq!(text.matches("Coca-Cola").count(), 1);
    }
}

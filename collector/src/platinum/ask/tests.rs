//! The grammar on the issue's own questions, without a database.

use chrono::NaiveDate;
use serde_json::json;

use super::{Reading, read};
use crate::brands::BrandMatcher;

fn as_of() -> NaiveDate {
    "2026-12-05".parse().unwrap()
}

/// One matcher for every question (building it is the slow part of a reading).
fn matcher() -> &'static BrandMatcher {
    static MATCHER: std::sync::OnceLock<BrandMatcher> = std::sync::OnceLock::new();
    MATCHER.get_or_init(|| BrandMatcher::shipped().unwrap())
}

fn plan(question: &str) -> serde_json::Value {
    match read(question, as_of(), Some(matcher())) {
        Reading::Plan { plan, .. } => serde_json::to_value(plan).unwrap(),
        other => panic!("{question}: {other:?}"),
    }
}

#[test]
fn the_issue_questions_read_as_meant() {
    let p = plan("which brand sold best in store 102 last Saturday?");
    assert_eq!(p["intent"], "top_n");
    assert_eq!(p["dimensions"], json!(["brand"]));
    assert_eq!(p["measures"], json!(["revenue"]));
    assert_eq!(p["limit"], 1);
    assert_eq!(p["filters"]["stores"], json!(["102"]));
    assert_eq!(
        p["filters"]["period"],
        json!({"kind": "between", "from": "2026-11-28", "to": "2026-11-28"})
    );

    let p = plan("ilang piraso ng Bear Brand ang nabenta nitong Sabado?");
    assert_eq!(p["measures"], json!(["units"]));
    assert_eq!(p["filters"]["brands"], json!(["Bear Brand"]));
    assert_eq!(p["filters"]["period"]["from"], "2026-12-05");

    let p = plan("gross sales per category in October");
    assert_eq!(p["dimensions"], json!(["category"]));
    assert_eq!(p["filters"]["period"]["to"], "2026-10-31");

    let p = plan("GCash vs cash in the evenings");
    assert_eq!(p["intent"], "compare");
    assert_eq!(p["dimensions"], json!(["payment_method"]));
    assert_eq!(p["filters"]["payment_methods"], json!(["gcash", "cash"]));
    assert_eq!(p["filters"]["dayparts"], json!(["evening"]));

    let p = plan("kita ng bawat tindahan ngayong linggo");
    assert_eq!(p["dimensions"], json!(["store"]));
    assert_eq!(p["filters"]["period"], json!({"kind": "this_week"}));

    let p = plan("units of instant noodles by store and day");
    assert_eq!(p["intent"], "trend");
    assert_eq!(p["dimensions"], json!(["day", "store"]));
    assert_eq!(p["filters"]["categories"], json!(["Instant Noodles"]));

    // The grammar's own words are not a misspelt brand ("brand paid" is near Band-Aid).
    let p = plan("revenue by brand paid with GCash");
    assert_eq!(p["dimensions"], json!(["brand"]));
    assert_eq!(p["filters"]["payment_methods"], json!(["gcash"]));
    assert!(p["filters"].get("brands").is_none(), "{p}");

    let p = plan("top lima na brand ngayong buwan");
    assert_eq!(p["limit"], 5);
    let p = plan("benta nakaraang pitong araw");
    assert_eq!(
        p["filters"]["period"],
        json!({"kind": "last_days", "days": 7})
    );
}

#[test]
fn unknown_and_ambiguous_words_are_asked_about() {
    let matcher = BrandMatcher::shipped().unwrap();
    let r = read("profit per store", as_of(), Some(&matcher));
    assert!(matches!(r, Reading::Clarify { .. }), "{r:?}");
    let r = read("revnue per store", as_of(), Some(&matcher));
    assert!(matches!(r, Reading::Plan { .. }), "{r:?}");
    let r = read("salse per stor", as_of(), Some(&matcher));
    let Reading::Clarify { suggestions, .. } = r else {
        panic!("{r:?}")
    };
    assert!(suggestions.contains(&"store".to_owned()), "{suggestions:?}");
    let r = read("benta noong linggo", as_of(), Some(&matcher));
    assert!(matches!(r, Reading::Clarify { .. }), "{r:?}");
    let r = read("per store yesterday", as_of(), Some(&matcher));
    assert!(matches!(r, Reading::Clarify { .. }), "{r:?}");
    let r = read("drop table silver", as_of(), Some(&matcher));
    assert!(matches!(r, Reading::Refused { .. }), "{r:?}");
}

#[test]
fn store_codes_whole_weeks_and_months_and_analysts_shorthand() {
    let p = plan("revenue ng ST-MNL-001 nung Oktubre");
    assert_eq!(p["filters"]["stores"], json!(["st-mnl-001"]));
    assert_eq!(
        p["filters"]["period"],
        json!({"kind": "between", "from": "2026-10-01", "to": "2026-10-31"})
    );
    let p = plan("ilang customer ang bumili sa ST-QC-001 kahapon");
    assert_eq!(p["measures"], json!(["unique_customers"]));
    assert_eq!(p["filters"]["stores"], json!(["st-qc-001"]));
    let p = plan("sari-12 vs sari-14 this month");
    assert_eq!(p["intent"], "compare");
    assert_eq!(p["filters"]["stores"], json!(["sari-12", "sari-14"]));

    // 2026-12-05 is a Saturday: the four whole weeks before this one, the three months before
    // December.
    let p = plan("weekly sales for the last 4 weeks");
    assert_eq!(p["dimensions"], json!(["week"]));
    assert_eq!(
        p["filters"]["period"],
        json!({"kind": "between", "from": "2026-11-02", "to": "2026-11-29"})
    );
    let p = plan("revenue per store past 3 months");
    assert_eq!(
        p["filters"]["period"],
        json!({"kind": "between", "from": "2026-09-01", "to": "2026-11-30"})
    );
    let p = plan("benta huling 12 buwan");
    assert_eq!(p["filters"]["period"]["from"], "2025-12-01");

    let p = plan("top 5 brnds lst wk");
    assert_eq!(p["limit"], 5);
    assert_eq!(p["dimensions"], json!(["brand"]));
    assert_eq!(p["filters"]["period"], json!({"kind": "last_week"}));
    let p = plan("how many txns paid w/ gcash yesterday");
    assert_eq!(p["measures"], json!(["transactions"]));
    assert_eq!(p["filters"]["payment_methods"], json!(["gcash"]));
    let p = plan("avg txn value per store last month");
    assert_eq!(p["measures"], json!(["avg_basket_pesos"]));
    assert_eq!(p["dimensions"], json!(["store"]));
    let p = plan("average transaction value this month");
    assert_eq!(p["measures"], json!(["avg_basket_pesos"]));
    let p = plan("biggest sales day last month");
    assert_eq!(p["intent"], "top_n");
    assert_eq!(p["dimensions"], json!(["day"]));
    let p = plan("average basket size last 30 days");
    assert_eq!(p["measures"], json!(["avg_basket_units"]));
    let p = plan("basket value per store");
    assert_eq!(p["measures"], json!(["avg_basket_pesos"]));
    let p = plan("which age group buys the most Red Horse last month");
    assert_eq!(p["dimensions"], json!(["age_bracket"]));
    assert_eq!(p["filters"]["brands"], json!(["Red Horse"]));
}

#[test]
fn counts_weekdays_and_busy_read_as_meant() {
    // "How many" counts units unless another measure is named.
    let p = plan("how many Coke sold last week");
    assert_eq!(p["measures"], json!(["units"]));
    let p = plan("ilang Red Horse ang nabenta kahapon");
    assert_eq!(p["measures"], json!(["units"]));
    assert_eq!(p["filters"]["brands"], json!(["Red Horse"]));
    let p = plan("how many transactions yesterday");
    assert_eq!(p["measures"], json!(["transactions"]));

    // A weekday in the plural, or after "every"/"tuwing", is each of them; one alone is the
    // last one.
    let p = plan("sales on Sundays");
    assert_eq!(p["filters"]["weekdays"], json!(["sunday"]));
    assert!(p["filters"].get("period").is_none(), "{p}");
    let p = plan("benta tuwing Sabado at Linggo");
    assert_eq!(p["filters"]["weekdays"], json!(["saturday", "sunday"]));
    let p = plan("sales on Sunday");
    assert!(p["filters"].get("weekdays").is_none(), "{p}");
    assert_eq!(p["filters"]["period"]["from"], "2026-11-29");

    // The day of the week groups.
    for q in [
        "revenue by weekday",
        "sales by day of the week",
        "benta kada araw ng linggo",
    ] {
        assert_eq!(plan(q)["dimensions"], json!(["weekday"]), "{q}");
    }
    let p = plan("anong araw ng linggo pinakamatumal ang benta");
    assert_eq!(p["intent"], "top_n");
    assert_eq!(p["sort"], json!({"by": "revenue", "descending": false}));

    // Busy is traffic: transactions, unless sales are named.
    let p = plan("busiest store on saturdays");
    assert_eq!(p["measures"], json!(["transactions"]));
    assert_eq!(p["sort"]["descending"], true);
    assert_eq!(p["limit"], 1);
    let p = plan("slowest hour");
    assert_eq!(p["measures"], json!(["transactions"]));
    assert_eq!(p["sort"]["descending"], false);

    // A sort without a cut; the values named are what is ranked.
    let p = plan("sales by category last week highest first");
    assert_eq!(p["intent"], "aggregate");
    assert_eq!(p["sort"], json!({"by": "revenue", "descending": true}));
    assert!(p.get("limit").is_none(), "{p}");
    let p = plan("kopiko or nescafe which sells more this month");
    assert_eq!(p["intent"], "top_n");
    assert_eq!(p["dimensions"], json!(["brand"]));
}

#[test]
fn rankings_keep_ties_and_brand_forms_hint_at_products() {
    let p = plan("least sold product this month");
    assert_eq!(p["intent"], "top_n");
    assert_eq!(p["with_ties"], true);
    let Reading::Plan { product_hints, .. } = read(
        "ilang Coke Mismo nabenta last week?",
        as_of(),
        Some(matcher()),
    ) else {
        panic!("not read");
    };
    assert_eq!(product_hints, ["mismo"]);
    // The brand's own name, or a word that alone names it, is no product hint.
    for q in [
        "Coca-Cola sales last week",
        "how many Bear Brand sold last week",
    ] {
        let Reading::Plan { product_hints, .. } = read(q, as_of(), Some(matcher())) else {
            panic!("{q}: not read");
        };
        assert!(product_hints.is_empty(), "{q}: {product_hints:?}");
    }
    // Everyday words of analysts.
    for (q, measure) in [
        ("hw many shoppers last week", "unique_customers"),
        ("bentahan kada tindahan", "revenue"),
        ("how many sticks of Marlboro yesterday", "units"),
    ] {
        assert_eq!(plan(q)["measures"], json!([measure]), "{q}");
    }
    assert_eq!(
        plan("peak hour last week")["measures"],
        json!(["transactions"])
    );
    let p = plan("which payment method do 18-24 yr olds use most");
    assert_eq!(p["filters"]["age_brackets"], json!(["18-24"]));
    assert_eq!(p["dimensions"], json!(["payment_method"]));
    let p = plan("sales of 55+ customers last month");
    assert_eq!(p["filters"]["age_brackets"], json!(["55+"]));
    assert_eq!(p["measures"], json!(["revenue"]));
    assert_eq!(
        plan("tranasctions per store yesterday")["measures"],
        json!(["transactions"])
    );
}

//! A plan in words, for the person who asked: what is measured, grouped by what, over which
//! days, with which filters ("revenue by brand, top 5, highest first · 2026-11-29 to
//! 2026-12-05 · stores 102"). Answers carry it so a reader sees at a glance how the question
//! was read; the plan itself stays the exact record.

use chrono::NaiveDate;

use super::plan::{Intent, Plan};

fn words(name: &str) -> String {
    name.replace('_', " ")
}

fn list(label: &str, values: &[String]) -> Option<String> {
    (!values.is_empty()).then(|| format!("{label} {}", values.join(", ")))
}

/// `plan` in words; `period` is the first and last day the plan's period came to.
pub fn describe(plan: &Plan, period: Option<[NaiveDate; 2]>) -> String {
    let measures: Vec<String> = plan.measures.iter().map(|m| words(m.name())).collect();
    let mut head = measures.join(" and ");
    if !plan.dimensions.is_empty() {
        let dims: Vec<String> = plan.dimensions.iter().map(|d| words(d.name())).collect();
        head.push_str(&format!(" by {}", dims.join(" × ")));
    }
    match plan.intent {
        Intent::TopN => {
            let order = match plan.sort {
                Some(s) if !s.descending => "lowest first",
                _ => "highest first",
            };
            head.push_str(&format!(", top {}, {order}", plan.effective_limit()));
        }
        Intent::Compare => head.push_str(", compared"),
        Intent::Trend => head.push_str(", over time"),
        Intent::Crosstab => head.push_str(", as a cross-tab"),
        Intent::Aggregate => {}
    }
    let mut parts = vec![head];
    parts.push(match period {
        Some([from, to]) if from == to => format!("{from}"),
        Some([from, to]) => format!("{from} to {to}"),
        None => "all dates".to_owned(),
    });
    if let (Some(versus), Some(as_of)) = (plan.filters.versus, plan.as_of) {
        let (from, to) = versus.resolve(as_of);
        parts.push(format!("against {from} to {to}"));
    }
    let f = &plan.filters;
    parts.extend(
        [
            list("brands", &f.brands),
            list("categories", &f.categories),
            list("stores", &f.stores),
            list("paid by", &f.payment_methods),
            list("in the", &f.dayparts),
            list("customers", &f.genders),
            list("aged", &f.age_brackets),
            list("every", &f.weekdays),
            list("products named", &f.products),
            f.weekend
                .map(|w| if w { "weekends only" } else { "weekdays only" }.to_owned()),
        ]
        .into_iter()
        .flatten(),
    );
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(json: &str) -> Plan {
        serde_json::from_str(json).unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn plans_read_as_sentences() {
        let top = plan(
            r#"{"intent":"top_n","dimensions":["brand"],"measures":["revenue"],
                "filters":{"stores":["102"],"weekend":true},"limit":5}"#,
        );
        assert_eq!(
            describe(&top, Some([day("2026-11-29"), day("2026-12-05")])),
            "revenue by brand, top 5, highest first · 2026-11-29 to 2026-12-05 · stores 102 · \
             weekends only"
        );
        let tab = plan(
            r#"{"intent":"crosstab","dimensions":["payment_method","daypart"],
                "measures":["avg_basket_pesos"],"filters":{"payment_methods":["GCash","Cash"]}}"#,
        );
        assert_eq!(
            describe(&tab, Some([day("2026-12-05"), day("2026-12-05")])),
            "avg basket pesos by payment method × daypart, as a cross-tab · 2026-12-05 · \
             paid by GCash, Cash"
        );
        let all = plan(r#"{"intent":"aggregate","measures":["units","transactions"]}"#);
        assert_eq!(describe(&all, None), "units and transactions · all dates");
    }
}

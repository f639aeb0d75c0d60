//! The question set (`tests/data/nl2sql_questions.json`): English, Filipino, Taglish, misspelled
//! and ambiguous questions over the generated fixture, each read into a plan whose essentials
//! and rows must equal what was written by hand; the figures are printed per language. Hostile
//! inputs must be refused and audited. Both backends.

use std::collections::BTreeMap;
use std::sync::Arc;

use scout_collector::brands::BrandMatcher;
use scout_collector::platinum::{Engine, Outcome};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb};
use crate::nl2sql::{Kind, fixture, hand, same_rows};

crate::both_backends!(
    nl2sql_question_set_is_answered_or_clarified,
    nl2sql_hostile_inputs_are_refused_and_audited
);

fn set() -> Value {
    let text = include_str!("../data/nl2sql_questions.json");
    serde_json::from_str(text).unwrap()
}

fn as_of(set: &Value) -> chrono::NaiveDate {
    set["as_of"].as_str().unwrap().parse().unwrap()
}

async fn engine(backend: Backend) -> (TestApp, Engine) {
    let app = TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await;
    let matcher = Arc::new(BrandMatcher::shipped().unwrap());
    let engine = Engine::new(app.store.clone()).with_brands(matcher);
    (app, engine)
}

fn kinds(letters: &str) -> Vec<Kind> {
    letters
        .chars()
        .map(|c| match c {
            'T' => Kind::Text,
            'C' => Kind::Centavos,
            'I' => Kind::Int,
            _ => Kind::Float,
        })
        .collect()
}

/// The hand-written SQL for this backend, with the set's shorthands expanded.
fn sql(q: &Value, backend: Backend) -> String {
    let text = q["sql"].as_str().map(str::to_owned).unwrap_or_else(|| {
        let key = match backend {
            Backend::Postgres => "sql_postgres",
            Backend::Sqlite => "sql_sqlite",
        };
        q[key].as_str().unwrap().to_owned()
    });
    text.replace("{S}", "silver.transactions_cleaned")
        .replace("{B}", "device_id || ':' || transaction_id")
}

async fn nl2sql_question_set_is_answered_or_clarified(backend: Backend) {
    let (app, engine) = engine(backend).await;
    fixture(&app).await;
    let set = set();
    let day = as_of(&set);
    // lang -> (questions, correct, clarified, wrong)
    let mut tally: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    let mut wrong = Vec::new();
    let mut unexpected_clarifications = Vec::new();
    for q in set["questions"].as_array().unwrap() {
        let question = q["q"].as_str().unwrap();
        let lang = q["lang"].as_str().unwrap().to_owned();
        let t = tally.entry(lang).or_default();
        t[0] += 1;
        let outcome = engine.ask(question, Some(day)).await.unwrap();
        match (q["expect"].as_str().unwrap(), outcome) {
            ("clarify", Outcome::Clarify { .. }) => t[1] += 1,
            ("answer", Outcome::Clarify { clarification, .. }) => {
                t[2] += 1;
                unexpected_clarifications.push(format!("{question}: {clarification}"));
            }
            ("answer", Outcome::Answered { answer, .. }) => {
                let plan = json!(answer.plan);
                let mut ok = plan["intent"] == q["intent"]
                    && plan["dimensions"] == q["dimensions"]
                    && plan["measures"] == q["measures"];
                if let Some(limit) = q.get("limit") {
                    ok &= &plan["limit"] == limit;
                }
                let expected = hand(
                    &app.store,
                    &sql(q, backend),
                    &kinds(q["kinds"].as_str().unwrap()),
                )
                .await;
                ok &= same_rows(&answer.rows, &expected);
                if ok {
                    t[1] += 1;
                } else {
                    t[3] += 1;
                    wrong.push(format!(
                        "{question}\n  plan: {plan}\n  engine: {:?}\n  hand:   {expected:?}",
                        answer.rows
                    ));
                }
            }
            (_, other) => {
                t[3] += 1;
                wrong.push(format!("{question}: {other:?}"));
            }
        }
    }
    let total: [usize; 4] = tally.values().fold([0; 4], |mut acc, t| {
        (0..4).for_each(|i| acc[i] += t[i]);
        acc
    });
    println!("question set on {backend:?} (questions, correct, clarified, wrong):");
    for (lang, t) in &tally {
        println!(
            "  {lang:<11} {:>3} {:>3} {:>3} {:>3}",
            t[0], t[1], t[2], t[3]
        );
    }
    let accuracy = total[1] as f64 / total[0] as f64;
    println!(
        "  all         {:>3} {:>3} {:>3} {:>3}  accuracy {:.1}%",
        total[0],
        total[1],
        total[2],
        total[3],
        accuracy * 100.0
    );
    for c in &unexpected_clarifications {
        println!("  clarified: {c}");
    }
    assert!(total[0] >= 60);
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
    assert!(accuracy >= 0.95, "accuracy {accuracy}");
    app.finish().await;
}

async fn nl2sql_hostile_inputs_are_refused_and_audited(backend: Backend) {
    let (app, engine) = engine(backend).await;
    let set = set();
    let hostile = set["hostile"].as_array().unwrap();
    assert!(hostile.len() >= 15);
    for h in hostile {
        let question = h.as_str().unwrap();
        match engine.ask(question, Some(as_of(&set))).await.unwrap() {
            Outcome::Refused { refused } => assert!(refused.starts_with("refused"), "{refused}"),
            other => panic!("{question}: {other:?}"),
        }
    }
    let rows = app
        .store
        .query(
            "SELECT question, error, sql_text, plan FROM metadata.ai_sql_audit ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), hostile.len());
    for (row, h) in rows.iter().zip(hostile) {
        assert_eq!(row.opt_text(0).unwrap().as_deref(), h.as_str());
        assert!(row.opt_text(1).unwrap().unwrap().starts_with("refused"));
        assert!(row.opt_text(2).unwrap().is_none(), "no SQL ran for {h}");
    }
    // The data are untouched: nothing was written but the audit rows.
    assert_eq!(app.store.bronze_count().await.unwrap(), 0);
    app.finish().await;
}

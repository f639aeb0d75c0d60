//! The ways in, on both backends: `POST /v1/nl2sql` and `/functions/v1/nl2sql` (question or
//! plan, admin token), `GET /v1/crosstab` as JSON and CSV with totals checked against SQL
//! written by hand, and `scout-collector ask` (table, `--json`, `--csv`, exit codes).

use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb};
use crate::nl2sql::{AS_OF, Kind, fixture, hand, same_rows};

crate::both_backends!(
    nl2sql_http_answers_questions_and_plans,
    crosstab_has_right_totals_as_json_and_csv,
    ask_command_prints_table_json_and_csv,
);

const ADMIN: &str = "platinum-admin-token-for-tests";
const SILVER: &str = "silver.transactions_cleaned";
const BASKET: &str = "device_id || ':' || transaction_id";

async fn app(backend: Backend) -> TestApp {
    let app =
        TestApp::spawn_with_admin_token(TestDb::for_backend(backend).await.unwrap(), ADMIN).await;
    fixture(&app).await;
    app
}

async fn post(app: &TestApp, path: &str, body: Value, token: Option<&str>) -> (u16, Value) {
    let mut request = app.client.post(app.url(path)).json(&body);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn nl2sql_http_answers_questions_and_plans(backend: Backend) {
    let app = app(backend).await;
    let question = json!({"question": "top 5 brands by revenue last 7 days", "as_of": AS_OF});
    let (status, _) = post(&app, "/v1/nl2sql", question.clone(), None).await;
    assert_eq!(status, 401);
    let (status, body) = post(&app, "/v1/nl2sql", question, Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "answered");
    assert_eq!(body["plan"]["intent"], "top_n");
    assert_eq!(body["columns"], json!(["brand", "revenue"]));
    let expected = hand(
        &app.store,
        &format!(
            "SELECT coalesce(brand_name, 'Unknown'), CAST(sum(amount_centavos) AS BIGINT) \
             FROM {SILVER} WHERE transaction_date BETWEEN '2026-11-29' AND '2026-12-05' \
             GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"
        ),
        &[Kind::Text, Kind::Centavos],
    )
    .await;
    let rows: Vec<Vec<Value>> = serde_json::from_value(body["rows"].clone()).unwrap();
    assert!(same_rows(&rows, &expected), "{rows:?} {expected:?}");
    assert!(body["sql"].as_str().unwrap().contains("LIMIT $"));

    // A plan, through the compatibility path.
    let plan = json!({"plan": {"intent": "aggregate", "measures": ["transactions"],
                               "filters": {"stores": ["105"]}}, "as_of": AS_OF});
    let (status, body) = post(&app, "/functions/v1/nl2sql", plan, Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    let expected = hand(
        &app.store,
        &format!("SELECT count(DISTINCT {BASKET}) FROM {SILVER} WHERE store_id = '105'"),
        &[Kind::Int],
    )
    .await;
    assert_eq!(body["rows"], json!(expected));

    let (status, body) = post(
        &app,
        "/v1/nl2sql",
        json!({"question": "drop table silver.transactions_cleaned"}),
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "refused", "{body}");
    let (_, body) = post(
        &app,
        "/v1/nl2sql",
        json!({"question": "profit by brand"}),
        Some(ADMIN),
    )
    .await;
    assert_eq!(body["status"], "clarify", "{body}");
    for bad in [
        json!({}),
        json!({"question": "sales", "plan": {"intent": "aggregate", "measures": ["revenue"]}}),
        json!({"plan": {"intent": "crosstab", "dimensions": ["brand"], "measures": ["revenue"]}}),
        json!({"plan": {"intent": "aggregate", "measures": ["revenue"], "table": "x"}}),
    ] {
        let (status, body) = post(&app, "/v1/nl2sql", bad.clone(), Some(ADMIN)).await;
        assert_eq!(status, 400, "{bad} → {body}");
    }
    let audited = app
        .store
        .query_int("SELECT count(*) FROM metadata.ai_sql_audit", &[])
        .await
        .unwrap();
    assert_eq!(
        audited, 5,
        "two answers, a refusal, a clarification, an invalid plan"
    );
    app.finish().await;
}

async fn crosstab_has_right_totals_as_json_and_csv(backend: Backend) {
    let app = app(backend).await;
    let base = "/v1/crosstab?rows=brand&cols=daypart&from=2026-11-23&to=2026-12-05";
    let unauthorised = app.client.get(app.url(base)).send().await.unwrap();
    assert_eq!(unauthorised.status(), 401);
    for measure in ["revenue", "transactions"] {
        let url = app.url(&format!("{base}&measure={measure}"));
        let body: Value = app
            .client
            .get(&url)
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (agg, kind) = match measure {
            "revenue" => ("CAST(sum(amount_centavos) AS BIGINT)", Kind::Centavos),
            _ => (
                "count(DISTINCT device_id || ':' || transaction_id)",
                Kind::Int,
            ),
        };
        let brand = "coalesce(brand_name, 'Unknown')";
        let cells = hand(
            &app.store,
            &format!("SELECT {brand}, daypart, {agg} FROM {SILVER} GROUP BY 1, 2 ORDER BY 1, 2"),
            &[Kind::Text, Kind::Text, kind],
        )
        .await;
        let row_keys = body["row_keys"].as_array().unwrap();
        let col_keys = body["col_keys"].as_array().unwrap();
        for c in &cells {
            let i = row_keys.iter().position(|k| *k == c[0]).unwrap();
            let j = col_keys.iter().position(|k| *k == c[1]).unwrap();
            assert!(same_rows(
                &[vec![body["cells"][i][j].clone()]],
                &[vec![c[2].clone()]]
            ));
        }
        let rows = hand(
            &app.store,
            &format!("SELECT {brand}, {agg} FROM {SILVER} GROUP BY 1 ORDER BY 1"),
            &[Kind::Text, kind],
        )
        .await;
        let totals: Vec<Vec<Value>> = row_keys
            .iter()
            .zip(body["row_totals"].as_array().unwrap())
            .map(|(k, v)| vec![k.clone(), v.clone()])
            .collect();
        assert!(same_rows(&totals, &rows), "{totals:?} {rows:?}");
        let grand = hand(&app.store, &format!("SELECT {agg} FROM {SILVER}"), &[kind]).await;
        assert!(same_rows(
            &[vec![body["grand_total"].clone()]],
            &grand[0..1]
        ));
        if measure == "transactions" {
            // A basket holds several brands: the total is not the sum of the cells.
            let summed: i64 = body["row_totals"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .sum();
            assert!(summed > body["grand_total"].as_i64().unwrap());
        }
    }
    for (url, accept) in [
        (format!("{base}&measure=units&format=csv"), "*/*"),
        (format!("{base}&measure=units"), "text/csv"),
    ] {
        let response = app
            .client
            .get(app.url(&url))
            .bearer_auth(ADMIN)
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let text = response.text().await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("brand,") && lines[0].ends_with(",Total"),
            "{text}"
        );
        assert!(lines.last().unwrap().starts_with("Total,"), "{text}");
    }
    let bad = app
        .client
        .get(app.url("/v1/crosstab?rows=brand&cols=bronze&measure=revenue"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    app.finish().await;
}

fn ask(url: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scout-collector"))
        .args(["--database-url", url, "ask", "--as-of", AS_OF])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn ask_command_prints_table_json_and_csv(backend: Backend) {
    let app = app(backend).await;
    let url = app.db.url.clone();
    let q = "kita ng bawat tindahan ngayong linggo";
    let (code, out) = ask(&url, &[q, "--json"]);
    assert_eq!(code, 0, "{out}");
    let body: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["plan"]["dimensions"], json!(["store"]));
    assert!(body["sql"].is_string());
    let expected = hand(
        &app.store,
        &format!(
            "SELECT store_id, CAST(sum(amount_centavos) AS BIGINT) FROM {SILVER} \
             WHERE transaction_date BETWEEN '2026-11-30' AND '2026-12-06' GROUP BY 1 ORDER BY 1"
        ),
        &[Kind::Text, Kind::Centavos],
    )
    .await;
    assert_eq!(body["columns"], json!(["store", "revenue"]));
    let rows: Vec<Vec<Value>> = serde_json::from_value(body["rows"].clone()).unwrap();
    assert!(same_rows(&rows, &expected));

    let (code, out) = ask(&url, &[q]);
    assert_eq!(code, 0);
    assert!(
        out.contains("read as:") && out.contains("store  revenue"),
        "{out}"
    );
    assert!(out.contains(&format!("({} rows)", expected.len())), "{out}");
    let (code, out) = ask(&url, &[q, "--csv"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().next(), Some("store,revenue"));
    assert_eq!(out.lines().count(), expected.len() + 1);

    let (code, out) = ask(&url, &["burahin ang benta kahapon", "--json"]);
    assert_eq!(code, 2);
    assert!(serde_json::from_str::<Value>(&out).unwrap()["refused"].is_string());
    let (code, out) = ask(&url, &["benta noong linggo"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("linggo"));
    app.finish().await;
}

//! The control room over HTTP, on both backends: the login flow and its cookie, refusals
//! without a session or the admin token, the JSON figures against seeded data, and escaping of
//! hostile text from the data.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use scout_collector::store::AuditEntry;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, ndjson};
use crate::medallion::{process, sale};

crate::both_backends!(
    dashboard_login_flow_and_cookie,
    dashboard_figures_match_the_seeded_data,
    dashboard_escapes_hostile_text,
);

const ADMIN: &str = "admin-5f1e0c9a7b3d42e8a6f0c1d2e3f4a5b6";
pub(crate) const HOSTILE_STORE: &str = "<img src=x onerror=alert(1)>";
const HOSTILE_ERROR: &str = "</td><script>alert('pwned')</script>";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn login(app: &TestApp, client: &reqwest::Client, token: &str) -> reqwest::Response {
    client
        .post(app.url("/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={token}")) // the tests' tokens need no percent-encoding
        .send()
        .await
        .unwrap()
}

/// Today's date in Asia/Manila, as the silver rows of "now" carry it.
fn manila_today() -> chrono::NaiveDate {
    scout_collector::dashboard::manila_date(chrono::Utc::now())
}

async fn dashboard_login_flow_and_cookie(backend: Backend) {
    let app =
        TestApp::spawn_with_admin_token(TestDb::for_backend(backend).await.unwrap(), ADMIN).await;
    let client = no_redirects();

    // No session: the login form, no figures; the JSON is refused; the token in a URL is not
    // a login.
    for path in ["/", &format!("/?token={ADMIN}")] {
        let page = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let body = page.text().await.unwrap();
        assert!(body.contains(r#"name="token""#), "{body}");
        assert!(!body.contains("id=\"pipeline\""), "{body}");
    }
    let json = client.get(app.url("/v1/dashboard")).send().await.unwrap();
    assert_eq!(json.status(), StatusCode::UNAUTHORIZED);
    let device = client
        .get(app.url("/v1/dashboard"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(device.status(), StatusCode::UNAUTHORIZED, "a device token");
    let bearer = client
        .get(app.url("/v1/dashboard"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::OK, "the admin bearer token");

    // A wrong token: the form again, with an error and a 401, and no cookie.
    let wrong = login(&app, &client, "not-the-token").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    let body = wrong.text().await.unwrap();
    assert!(body.contains("not the admin token") && body.contains(r#"name="token""#));

    // The right token: a redirect to the page and a session cookie that is not the token.
    let ok = login(&app, &client, ADMIN).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()[LOCATION], "/");
    let set = ok.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.starts_with("scout_session="), "{set}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert!(!set.contains(ADMIN), "{set}");
    let cookie = set.split(';').next().unwrap().to_owned();

    let page = client
        .get(app.url("/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let body = page.text().await.unwrap();
    for part in [
        r#"id="pipeline""#,
        r#"id="gates""#,
        r#"id="fleet""#,
        r#"id="ask-form""#,
        "SCOUTPI-0004",
        "Log out",
    ] {
        assert!(body.contains(part), "{part}");
    }
    // The Ask box's question goes through with the session alone.
    let ask = |cookie: Option<String>| {
        let mut request = client
            .post(app.url("/v1/nl2sql"))
            .json(&serde_json::json!({"question": "revenue by store"}));
        if let Some(c) = cookie {
            request = request.header(COOKIE, c);
        }
        request.send()
    };
    let answered = ask(Some(cookie.clone())).await.unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    let answered: Value = answered.json().await.unwrap();
    assert_eq!(answered["status"], "answered", "{answered}");
    assert_eq!(answered["reading"], "revenue by store · all dates");
    assert_eq!(ask(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let json = client
        .get(app.url("/v1/dashboard"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), StatusCode::OK);
    let json: Value = json.json().await.unwrap();
    assert!(json["html"].as_str().unwrap().contains("SCOUTPI-0004"));

    // A forged cookie is no session; logging out ends the real one.
    let forged = client
        .get(app.url("/v1/dashboard"))
        .header(COOKIE, format!("scout_session={}", "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let out = client
        .post(app.url("/logout"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        out.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = client
        .get(app.url("/v1/dashboard"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        ask(Some(cookie.clone())).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "a question after the logout"
    );
    app.finish().await;
}

/// Seeds two sales today (three items, one unresolved brand), a quarantined item, a heartbeat
/// with dead letters, a failed audited call and a second device.
async fn seed(app: &TestApp) {
    let today = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut first = sale(
        "cccccccc-0000-4000-8000-000000000001",
        &today,
        &[
            ("Coca-Cola", "Coke Mismo", 2.0, 15.0),
            ("Tide", "Tide Bar", 1.0, 12.0),
        ],
        "cash",
    );
    first["items"].as_array_mut().unwrap().push(
        json!({"brandName": "Piattos", "productName": "Piattos", "quantity": 0,
                     "unitPrice": 20, "totalPrice": 20}),
    );
    let second = sale(
        "cccccccc-0000-4000-8000-000000000002",
        &today,
        &[("Qwzx", "Qwzx", 1.0, 7.0)],
        "gcash",
    );
    app.ingest_ok(&app.token, ndjson(&[first.to_string(), second.to_string()]))
        .await;
    process(&app.store).await;
    let heartbeat = json!({"sent_at": today, "agent_version": "0.1.0", "uptime_secs": 60,
        "queue_depth": 4, "queue_bytes": 12000, "oldest_pending_age_secs": 30,
        "dead_letters": 3, "refused_total": 0, "disk_free_bytes": null,
        "last_upload_at": null, "last_error": null});
    let r = app
        .client
        .post(app.url("/v1/heartbeat"))
        .bearer_auth(&app.token)
        .json(&heartbeat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.store
        .audit(&AuditEntry {
            function_name: "nl2sql",
            duration: std::time::Duration::from_millis(40),
            error: Some(HOSTILE_ERROR),
            device_id: None,
            row_count: None,
            details: None,
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    app.add_device("SCOUTPI-0666", HOSTILE_STORE).await;
}

async fn dashboard_figures_match_the_seeded_data(backend: Backend) {
    let app = TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await;
    seed(&app).await;
    let d: Value = app
        .client
        .get(app.url("/v1/dashboard"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let layer = |name: &str| {
        d["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap()
            .clone()
    };
    let gold_rows = app
        .store
        .query_int("SELECT count(*) FROM scout.scout_gold_transactions", &[])
        .await
        .unwrap();
    // Bronze: 2 transactions; silver: Coke, Tide, the unresolved item (the zero quantity is
    // quarantined); gold: one row per brand × category of the day; no files.
    for (name, rows) in [
        ("bronze", 2),
        ("silver", 3),
        ("gold", gold_rows),
        ("staging", 0),
    ] {
        let l = layer(name);
        assert_eq!(
            (
                l["last_hour"].as_i64(),
                l["last_24h"].as_i64(),
                l["total"].as_i64()
            ),
            (Some(rows), Some(rows), Some(rows)),
            "{name}: {l}"
        );
        assert_eq!(l["newest"].is_null(), rows == 0, "{name}: {l}");
    }
    assert!(gold_rows >= 3);
    let e = &d["errors"];
    assert_eq!(e["failed_calls_24h"], 1, "{e}");
    assert_eq!(e["recent_failures"][0]["function_name"], "nl2sql");
    assert_eq!(e["recent_failures"][0]["error"], HOSTILE_ERROR);
    assert_eq!(
        (
            e["quarantined_24h"].as_i64(),
            e["quarantined_total"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(e["dead_letters"], 3);
    assert_eq!(e["rejected_files_total"], 0);
    // Gates: run when the control room was first read (none had run), and kept.
    let gates = d["gates"]["gates"].as_array().unwrap();
    assert!(gates.len() >= 7, "{gates:?}");
    let completeness = gates.iter().find(|g| g["name"] == "completeness").unwrap();
    assert_eq!(
        completeness["value"].as_f64(),
        Some(0.6667),
        "2 of 3 items branded"
    );
    // Fleet: both devices, the first with the heartbeat's backlog.
    let fleet = d["fleet"].as_array().unwrap();
    assert_eq!(fleet.len(), 2);
    assert_eq!(
        (fleet[0]["device_id"].as_str(), fleet[0]["backlog"].as_i64()),
        (Some("SCOUTPI-0004"), Some(4))
    );
    assert_eq!(fleet[0]["transactions_today"], 2);
    assert_eq!(fleet[1]["store_id"], HOSTILE_STORE);
    assert_eq!(fleet[1]["health"], "never_seen");
    // Trends: today's silver revenue is 30 + 12 + 7 pesos over 3 items, 2 branded.
    let trends = d["trends"].as_array().unwrap();
    let today = trends.last().unwrap();
    assert_eq!(today["date"], manila_today().to_string());
    assert_eq!(today["revenue_centavos"], 4900);
    assert_eq!(today["items"], 3);
    assert!((today["branded_share"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    // The unresolved-brand queue: the ₱7 "Qwzx" line of ₱49.
    let queue = &d["brand_queue"];
    assert_eq!(
        (
            queue["revenue_centavos"].as_i64(),
            queue["unresolved_revenue_centavos"].as_i64()
        ),
        (Some(4900), Some(700))
    );
    let names = queue["names"].as_array().unwrap();
    assert_eq!(names.len(), 1, "{queue}");
    assert_eq!(
        (names[0]["name"].as_str(), names[0]["items"].as_i64()),
        (Some("Qwzx"), Some(1))
    );
    // The fragment carries the same figures.
    let html = d["html"].as_str().unwrap();
    assert!(html.contains("SCOUTPI-0004") && html.contains("completeness"));
    assert!(
        html.contains("Unresolved brands") && html.contains("14.3%"),
        "{html}"
    );
    let runs = app
        .store
        .query_int(
            "SELECT count(DISTINCT run_id) FROM metadata.quality_gate_results",
            &[],
        )
        .await
        .unwrap();
    // A second read within five minutes reuses the kept run.
    let again = app
        .client
        .get(app.url("/v1/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let runs_after = app
        .store
        .query_int(
            "SELECT count(DISTINCT run_id) FROM metadata.quality_gate_results",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((runs, runs_after), (1, 1));
    app.finish().await;
}

async fn dashboard_escapes_hostile_text(backend: Backend) {
    let app = TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await;
    seed(&app).await;
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200, "open without an admin token");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let body = page.text().await.unwrap();
    assert!(!body.contains(HOSTILE_STORE), "raw store id in the page");
    assert!(body.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(
        !body.contains("<script>alert"),
        "raw error text in the page"
    );
    assert!(body.contains("&lt;/td&gt;&lt;script&gt;alert('pwned')&lt;/script&gt;"));
    // Exactly one script element: the page's own.
    assert_eq!(body.matches("<script").count(), 1);
    // Nothing loaded from elsewhere.
    for external in ["src=\"http", "href=\"http", "url(", "@import", "//cdn"] {
        assert!(!body.contains(external), "{external}");
    }
    app.finish().await;
}

/// Over TLS the session cookie is `Secure` (not a database matter: SQLite only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_cookie_is_secure_over_tls() {
    crate::helpers::install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let pki = crate::tls::pki(dir.path());
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = scout_collector::ServeConfig {
        listen: listener.local_addr().unwrap(),
        tls_cert: Some(pki.cert.clone()),
        tls_key: Some(pki.key.clone()),
        drain_secs: 5,
        admin_token: Some(scout_collector::AdminToken::new(ADMIN)),
        limits: scout_collector::IngestLimits::default(),
        timeouts: Default::default(),
        pipeline: Default::default(),
        gates: Default::default(),
        files: Default::default(),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(scout_collector::run(
        listener,
        store.clone(),
        config,
        async {
            let _ = rx.await;
        },
    ));
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ok = client
        .post(format!("https://localhost:{port}/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={ADMIN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let set = ok.headers()[SET_COOKIE].to_str().unwrap();
    assert!(
        set.contains("; Secure") && set.contains("HttpOnly"),
        "{set}"
    );
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    store.close().await;
    db.cleanup().await;
}

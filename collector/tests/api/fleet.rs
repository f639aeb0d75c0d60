//! `POST /v1/heartbeat` and `GET /v1/devices` (the fleet view) behaviour, on both backends.

use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use scout_collector::Store;
use scout_collector::store::HEARTBEAT_HISTORY_PER_DEVICE;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, clean_line, ndjson};

crate::both_backends!(
    heartbeat_is_stored_and_overwritten_by_the_next,
    fleet_view_counts_todays_transactions_and_shows_the_backlog,
    fleet_view_health_values,
    heartbeat_with_a_bad_token_gets_401,
    malformed_heartbeat_gets_400_with_a_reason,
    oversized_heartbeat_gets_413_and_gzip_is_accepted,
    admin_token_guards_the_fleet_view,
    heartbeat_history_is_bounded_per_device,
);

const ADMIN_TOKEN: &str = "admin-7f3c1e9a2b4d6f80a1c3e5b7d9f0a2c4";

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn(TestDb::for_backend(backend).await.unwrap()).await
}

/// A heartbeat as the agent sends it.
fn heartbeat(queue_depth: u64, oldest_pending_age_secs: Option<u64>) -> Value {
    json!({
        "sent_at": "2026-11-27T01:00:00Z",
        "agent_version": "0.1.0",
        "uptime_secs": 3600,
        "queue_depth": queue_depth,
        "queue_bytes": queue_depth * 3000,
        "oldest_pending_age_secs": oldest_pending_age_secs,
        "dead_letters": 0,
        "refused_total": 0,
        "disk_free_bytes": 5_000_000_000_u64,
        "last_upload_at": "2026-11-27T00:59:00Z",
        "last_error": null,
    })
}

async fn post_heartbeat(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/heartbeat"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn heartbeat_ok(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = post_heartbeat(app, token, body).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// `GET /v1/devices` with an optional query and bearer token; expects 200.
async fn fleet(app: &TestApp, query: &str) -> Value {
    let response = app
        .client
        .get(app.url(&format!("/v1/devices{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The fleet view's line for `device_id`.
fn device<'a>(view: &'a Value, device_id: &str) -> &'a Value {
    view["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == device_id)
        .unwrap_or_else(|| panic!("{device_id} missing from {view:#}"))
}

/// Rows of the latest-heartbeat table: (device_id, queue_depth, payload), and the history length.
async fn stored_heartbeats(store: &Store) -> (Vec<(String, i64, Value)>, i64) {
    let rows = store
        .query(
            "SELECT device_id, queue_depth, payload::text FROM metadata.device_heartbeats \
             ORDER BY device_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let payload = serde_json::from_str(&r.text(2).unwrap()).unwrap();
            (r.text(0).unwrap(), r.int(1).unwrap(), payload)
        })
        .collect();
    let history = store
        .query_int(
            "SELECT count(*) FROM metadata.device_heartbeat_history",
            &[],
        )
        .await
        .unwrap();
    (rows, history)
}

async fn heartbeat_is_stored_and_overwritten_by_the_next(backend: Backend) {
    let app = app(backend).await;
    let first = heartbeat(5, Some(120));
    let ack = heartbeat_ok(&app, &app.token, &first).await;
    assert_eq!(ack["success"], true);
    assert_eq!(ack["device_id"], "SCOUTPI-0004");
    let first_at = ack["received_at"].as_str().unwrap().to_owned();
    let (rows, history) = stored_heartbeats(&app.store).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("SCOUTPI-0004", 5));
    assert_eq!(rows[0].2, first);
    assert_eq!(history, 1);

    // The next one replaces it; a field this collector does not know is kept in the payload.
    let mut second = heartbeat(0, None);
    second["last_error"] = json!("upload failed: connection reset");
    second["dead_letters"] = json!(2);
    second["future_field"] = json!({"from": "a newer agent"});
    let ack = heartbeat_ok(&app, &app.token, &second).await;
    let second_at = ack["received_at"].as_str().unwrap().to_owned();
    assert_ne!(first_at, second_at);
    let (rows, history) = stored_heartbeats(&app.store).await;
    assert_eq!(rows.len(), 1, "one row per device");
    assert_eq!(rows[0].1, 0);
    assert_eq!(rows[0].2, second);
    assert_eq!(history, 2, "both kept in the history");

    let view = fleet(&app, "").await;
    let d = device(&view, "SCOUTPI-0004");
    assert_eq!(
        d["last_heartbeat_at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap(),
        second_at.parse::<chrono::DateTime<chrono::Utc>>().unwrap()
    );
    assert_eq!(d["backlog"], 0);
    assert_eq!(d["oldest_pending_age_secs"], Value::Null);
    assert_eq!(d["dead_letters"], 2);
    assert_eq!(d["last_error"], "upload failed: connection reset");
    assert_eq!(d["health"], "ok");
    app.finish().await;
}

/// Moves one bronze row's `ingested_at` two days back.
async fn ingested_two_days_ago(store: &Store, transaction_id: &str) {
    let two_days_ago = chrono::Utc::now() - chrono::TimeDelta::days(2);
    let affected = store
        .execute(
            "UPDATE bronze.raw_transactions SET ingested_at = $1 WHERE transaction_id = $2",
            &[two_days_ago.into(), transaction_id.into()],
        )
        .await
        .unwrap();
    assert_eq!(affected, 1);
}

async fn fleet_view_counts_todays_transactions_and_shows_the_backlog(backend: Backend) {
    let app = app(backend).await;
    app.add_device("SCOUTPI-0005", "105").await;
    let lines: Vec<String> = (1..=4)
        .map(|i| clean_line(&format!("cccccccc-0000-4000-8000-00000000000{i}")))
        .collect();
    let r = app.ingest_ok(&app.token, ndjson(&lines[..3])).await;
    assert_eq!(r.inserted, 3);
    // A fourth row from two days ago is not today's.
    app.ingest_ok(&app.token, ndjson(&lines[3..])).await;
    ingested_two_days_ago(&app.store, "cccccccc-0000-4000-8000-000000000004").await;

    let mut hb = heartbeat(7, Some(300));
    hb["dead_letters"] = json!(1);
    hb["refused_total"] = json!(4);
    hb["last_error"] = json!("collector unreachable");
    heartbeat_ok(&app, &app.token, &hb).await;

    let view = fleet(&app, "").await;
    assert_eq!(view["success"], true);
    assert_eq!(view["stale_after_secs"], 900);
    assert_eq!(view["backlog_after_secs"], 3600);
    let manila_today = (chrono::Utc::now() + chrono::TimeDelta::hours(8)).date_naive();
    assert_eq!(view["today"], manila_today.to_string());
    let ids: Vec<&str> = view["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["SCOUTPI-0004", "SCOUTPI-0005"]);

    let d = device(&view, "SCOUTPI-0004");
    assert_eq!(d["store_id"], "104");
    assert_eq!(d["state"], "active");
    assert!(d["registered_at"].is_string());
    assert!(d["last_seen_at"].is_string());
    assert!(d["last_heartbeat_at"].is_string());
    assert_eq!(d["transactions_today"], 3);
    assert_eq!(d["agent_version"], "0.1.0");
    assert_eq!(d["uptime_secs"], 3600);
    assert_eq!(d["backlog"], 7);
    assert_eq!(d["queue_bytes"], 21000);
    assert_eq!(d["oldest_pending_age_secs"], 300);
    assert_eq!(d["dead_letters"], 1);
    assert_eq!(d["refused_total"], 4);
    assert_eq!(d["disk_free_bytes"], 5_000_000_000_u64);
    assert_eq!(d["last_error"], "collector unreachable");
    assert_eq!(
        d["last_upload_at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            .to_rfc3339(),
        "2026-11-27T00:59:00+00:00"
    );
    assert_eq!(d["health"], "ok", "a young backlog is not a problem");

    let quiet = device(&view, "SCOUTPI-0005");
    assert_eq!(quiet["transactions_today"], 0);
    assert_eq!(quiet["last_seen_at"], Value::Null);
    assert_eq!(quiet["last_heartbeat_at"], Value::Null);
    assert_eq!(quiet["backlog"], Value::Null);
    assert_eq!(quiet["health"], "never_seen");
    app.finish().await;
}

async fn fleet_view_health_values(backend: Backend) {
    let app = app(backend).await;
    // SCOUTPI-0004: heartbeat with an hour-old backlog. 0005: never seen. 0006: revoked after
    // one upload. 0007: one upload, no heartbeat.
    heartbeat_ok(&app, &app.token, &heartbeat(3, Some(7200))).await;
    app.add_device("SCOUTPI-0005", "105").await;
    let revoked = app.add_device("SCOUTPI-0006", "106").await;
    let line = clean_line("dddddddd-0000-4000-8000-000000000001")
        .replace("SCOUTPI-0004", "SCOUTPI-0006")
        .replace("\"storeId\":\"104\"", "\"storeId\":\"106\"");
    app.ingest_ok(&revoked, ndjson(&[line])).await;
    assert!(app.store.revoke_device("SCOUTPI-0006").await.unwrap());
    let quiet = app.add_device("SCOUTPI-0007", "107").await;
    let line = clean_line("dddddddd-0000-4000-8000-000000000002")
        .replace("SCOUTPI-0004", "SCOUTPI-0007")
        .replace("\"storeId\":\"104\"", "\"storeId\":\"107\"");
    app.ingest_ok(&quiet, ndjson(&[line])).await;

    let health = |view: &Value, id: &str| device(view, id)["health"].as_str().unwrap().to_owned();
    let view = fleet(&app, "").await;
    assert_eq!(health(&view, "SCOUTPI-0004"), "backlog");
    assert_eq!(health(&view, "SCOUTPI-0005"), "never_seen");
    assert_eq!(health(&view, "SCOUTPI-0006"), "revoked");
    assert_eq!(device(&view, "SCOUTPI-0006")["state"], "revoked");
    assert_eq!(device(&view, "SCOUTPI-0006")["transactions_today"], 1);
    assert_eq!(health(&view, "SCOUTPI-0007"), "ok");

    // A larger backlog threshold: the backlog is fine.
    let view = fleet(&app, "?backlog_after_secs=10000").await;
    assert_eq!(view["backlog_after_secs"], 10000);
    assert_eq!(health(&view, "SCOUTPI-0004"), "ok");

    // Zero tolerance for silence: every device seen is stale; never-seen and revoked stay so.
    let view = fleet(&app, "?stale_after_secs=0").await;
    assert_eq!(health(&view, "SCOUTPI-0004"), "stale");
    assert_eq!(health(&view, "SCOUTPI-0007"), "stale");
    assert_eq!(health(&view, "SCOUTPI-0005"), "never_seen");
    assert_eq!(health(&view, "SCOUTPI-0006"), "revoked");

    // A bad threshold is a 400 in the project's error shape.
    let response = app
        .client
        .get(app.url("/v1/devices?stale_after_secs=soon"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(
        body["error"].as_str().unwrap().contains("stale_after_secs"),
        "{body}"
    );
    app.finish().await;
}

async fn heartbeat_with_a_bad_token_gets_401(backend: Backend) {
    let app = app(backend).await;
    let hb = heartbeat(1, Some(10));
    let unknown = post_heartbeat(&app, "scout_not-a-real-token", &hb).await;
    assert_eq!(unknown.status(), 401);
    assert!(unknown.headers().contains_key("www-authenticate"));
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"], "unknown or revoked device token");

    let missing = app
        .client
        .post(app.url("/v1/heartbeat"))
        .json(&hb)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);

    // The device's own token twice is still two headers: refused.
    let twice = app
        .client
        .post(app.url("/v1/heartbeat"))
        .header("authorization", format!("Bearer {}", app.token))
        .header("authorization", format!("Bearer {}", app.token))
        .json(&hb)
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 401);

    let token = app.add_device("SCOUTPI-0009", "109").await;
    assert!(app.store.revoke_device("SCOUTPI-0009").await.unwrap());
    assert_eq!(post_heartbeat(&app, &token, &hb).await.status(), 401);

    let (rows, history) = stored_heartbeats(&app.store).await;
    assert!(rows.is_empty());
    assert_eq!(history, 0);
    app.finish().await;
}

async fn malformed_heartbeat_gets_400_with_a_reason(backend: Backend) {
    let app = app(backend).await;
    let send = |body: String| {
        app.client
            .post(app.url("/v1/heartbeat"))
            .bearer_auth(&app.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let mut missing = heartbeat(0, None);
    missing.as_object_mut().unwrap().remove("queue_depth");
    let mut wrong_type = heartbeat(0, None);
    wrong_type["sent_at"] = json!("yesterday");
    for (body, expected) in [
        (
            "{\"sent_at\": ".to_owned(),
            "heartbeat body is not valid JSON",
        ),
        (String::new(), "heartbeat body is not valid JSON"),
        ("[1, 2]".to_owned(), "heartbeat must be a JSON object"),
        (missing.to_string(), "missing field `queue_depth`"),
        (wrong_type.to_string(), "invalid heartbeat"),
    ] {
        let response = send(body.clone()).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["success"], false);
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(expected), "{body:?}: {error}");
    }
    let (rows, _) = stored_heartbeats(&app.store).await;
    assert!(rows.is_empty());
    app.finish().await;
}

async fn oversized_heartbeat_gets_413_and_gzip_is_accepted(backend: Backend) {
    let app = app(backend).await;
    let mut big = heartbeat(0, None);
    big["last_error"] = json!("x".repeat(70 * 1024));
    let response = post_heartbeat(&app, &app.token, &big).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "request body is larger than 65536 bytes");

    // Small on the wire, too big once gunzipped.
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(big.to_string().as_bytes()).unwrap();
    let response = app
        .client
        .post(app.url("/v1/heartbeat"))
        .bearer_auth(&app.token)
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(heartbeat(2, Some(5)).to_string().as_bytes())
        .unwrap();
    let response = app
        .client
        .post(app.url("/v1/heartbeat"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (rows, _) = stored_heartbeats(&app.store).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, 2);
    app.finish().await;
}

async fn admin_token_guards_the_fleet_view(backend: Backend) {
    let db = TestDb::for_backend(backend).await.unwrap();
    let app = TestApp::spawn_with_admin_token(db, ADMIN_TOKEN).await;
    let get = |token: Option<&str>| {
        let mut request = app.client.get(app.url("/v1/devices"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let none = get(None).await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.headers().contains_key("www-authenticate"));
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(
        body["error"].as_str().unwrap().contains("admin token"),
        "{body}"
    );
    assert_eq!(
        get(Some("not-the-admin-token")).await.unwrap().status(),
        401
    );
    // A device token is a valid credential elsewhere, never here.
    assert_eq!(get(Some(&app.token)).await.unwrap().status(), 401);
    let with_admin = &format!("{ADMIN_TOKEN}x");
    assert_eq!(get(Some(with_admin)).await.unwrap().status(), 401);

    // Two Authorization headers are refused whichever of them holds the token: which one a
    // proxy on the way checked cannot be known.
    for pair in [
        [ADMIN_TOKEN, "not-the-admin-token"],
        ["not-the-admin-token", ADMIN_TOKEN],
        [ADMIN_TOKEN, ADMIN_TOKEN],
    ] {
        let response = app
            .client
            .get(app.url("/v1/devices"))
            .header("authorization", format!("Bearer {}", pair[0]))
            .header("authorization", format!("Bearer {}", pair[1]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{pair:?}");
    }

    let ok = get(Some(ADMIN_TOKEN)).await.unwrap();
    assert_eq!(ok.status(), 200);
    let view: Value = ok.json().await.unwrap();
    assert_eq!(device(&view, "SCOUTPI-0004")["health"], "never_seen");

    // The admin token is not a device token: heartbeats still need the device's.
    let hb = heartbeat(0, None);
    assert_eq!(post_heartbeat(&app, ADMIN_TOKEN, &hb).await.status(), 401);
    assert_eq!(post_heartbeat(&app, &app.token, &hb).await.status(), 200);
    app.finish().await;
}

async fn heartbeat_history_is_bounded_per_device(backend: Backend) {
    let app = app(backend).await;
    app.add_device("SCOUTPI-0005", "105").await;
    let cap = usize::try_from(HEARTBEAT_HISTORY_PER_DEVICE).unwrap();
    let payload = heartbeat(0, None);
    let hb: scout_common::Heartbeat = serde_json::from_value(payload.clone()).unwrap();
    let start = chrono::Utc::now();
    for i in 0..cap + 5 {
        let mut hb = hb.clone();
        hb.uptime_secs = i as u64;
        let at = start + chrono::TimeDelta::milliseconds(i as i64);
        app.store
            .record_heartbeat("SCOUTPI-0004", &hb, &payload.to_string(), at)
            .await
            .unwrap();
    }
    app.store
        .record_heartbeat("SCOUTPI-0005", &hb, &payload.to_string(), start)
        .await
        .unwrap();
    let (rows, history) = stored_heartbeats(&app.store).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        history,
        HEARTBEAT_HISTORY_PER_DEVICE + 1,
        "the cap is per device"
    );
    let view = fleet(&app, "").await;
    assert_eq!(
        device(&view, "SCOUTPI-0004")["uptime_secs"],
        cap + 4,
        "the latest wins"
    );
    app.finish().await;
}

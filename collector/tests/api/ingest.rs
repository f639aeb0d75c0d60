//! `POST /v1/ingest` and `/functions/v1/ingest-stream` behaviour, on both backends.

use std::io::Write as _;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use scout_collector::IngestLimits;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, QUIRKY, TestApp, TestDb, clean_line, ndjson};

crate::both_backends!(
    quirky_transaction_lands_with_repairs_recorded,
    good_lines_land_beside_a_malformed_one,
    resending_a_batch_never_duplicates,
    gzip_body_is_accepted,
    unknown_missing_and_revoked_tokens_get_401,
    lines_for_another_device_are_refused,
    oversized_body_gets_413_without_being_read,
    chunked_body_over_the_limit_gets_413,
    wrong_content_type_or_encoding_gets_415,
    over_long_line_is_rejected_and_neighbours_land,
    busy_device_gets_429_and_busy_collector_503,
    compat_path_takes_ndjson_and_the_json_envelope,
    healthz_reports_the_database,
    large_body_lands_in_batches,
    a_row_the_database_refuses_is_rejected_alone,
);

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn(TestDb::for_backend(backend).await.unwrap()).await
}

async fn app_with(backend: Backend, limits: IngestLimits) -> TestApp {
    TestApp::spawn_with(TestDb::for_backend(backend).await.unwrap(), limits).await
}

fn stamped(line: &str, seq: u64, captured_at: &str) -> String {
    let mut v: Value = serde_json::from_str(line).unwrap();
    v["_agent"] = json!({"capturedAt": captured_at, "seq": seq, "version": "0.1.0"});
    v.to_string()
}

async fn quirky_transaction_lands_with_repairs_recorded(backend: Backend) {
    let app = app(backend).await;
    let token = app.add_device("SCOUTPI-0006", "106").await;
    let quirky: Value = serde_json::from_str(QUIRKY).unwrap();
    let line = stamped(&quirky.to_string(), 41, "2026-11-27T03:15:00.250Z");
    let r = app.ingest_ok(&token, ndjson(&[&line])).await;
    assert_eq!((r.inserted, r.duplicates, r.rejected.len()), (1, 0, 0));
    assert_eq!(r.device_id, "SCOUTPI-0006");

    let rows = app.bronze().await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.device_id, "SCOUTPI-0006");
    assert_eq!(row.store_id.as_deref(), Some("106"));
    assert_eq!(row.transaction_id.len(), 36, "derived UUID");
    // No usable timestamp: the agent's capture time stands in.
    assert_eq!(
        row.transaction_timestamp.to_rfc3339(),
        "2026-11-27T03:15:00.250+00:00"
    );
    assert_eq!(row.captured_at, Some(row.transaction_timestamp));
    assert_eq!(row.device_seq, Some(41));
    assert_eq!(row.agent_version.as_deref(), Some("0.1.0"));
    // Payload as received: unknown fields kept, the agent stamp lifted out.
    assert_eq!(row.payload["firmwareBuild"], "rpi4-2025.08");
    assert_eq!(row.payload["timestamp"], "");
    assert!(row.payload.get("_agent").is_none());
    // Items normalised.
    assert_eq!(row.items[0]["brandName"], "Lucky Me");
    assert_eq!(row.items[0]["quantity"], 3.0);
    assert_eq!(row.items[0]["totalPrice"], 42.0);
    assert_eq!(row.items[1]["productName"], "Kopiko Brown");
    assert_eq!(row.items[1]["unitPrice"], 8.0);
    assert_eq!(row.detected_brands["Lucky Me"], 0.82);
    assert_eq!(row.detected_brands["Kopiko"], 0.55);
    // Repairs recorded.
    let meta = &row.processing_metadata;
    assert_eq!(meta["timestampSource"], "capture");
    assert_eq!(meta["transactionIdDerived"], true);
    let repairs: Vec<(String, String)> = meta["repairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["field"].as_str().unwrap().to_owned(),
                r["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (field, kind) in [
        ("transactionId", "derived_transaction_id"),
        ("timestamp", "missing_timestamp"),
        ("deviceId", "device_id_case"),
        ("storeId", "store_id_number"),
        ("items[0].brandName", "brand_key"),
        ("items[0].quantity", "number_from_string"),
        ("items[0].totalPrice", "empty_number"),
        ("items[0].confidence", "null_number"),
        ("items[1].unitPrice", "price_key"),
        ("detectedBrands", "detected_brands_top_level"),
        ("detectedBrands.Lucky Me", "confidence_object"),
        ("privacy.consentTimestamp", "consent_timestamp"),
    ] {
        assert!(
            repairs.contains(&(field.to_owned(), kind.to_owned())),
            "missing repair {field}/{kind} in {repairs:?}"
        );
    }
    assert_eq!(meta["repairCount"], repairs.len());

    // The same content sent again without an id is recognised by its derived id.
    let again = app.ingest_ok(&token, ndjson(&[&line])).await;
    assert_eq!((again.inserted, again.duplicates), (0, 1));
    app.finish().await;
}

async fn good_lines_land_beside_a_malformed_one(backend: Backend) {
    let app = app(backend).await;
    // The first line starts with the byte-order mark a Windows tool writes: it is not part of
    // the JSON and the line lands.
    let body = ndjson(&[
        format!(
            "\u{feff}{}",
            clean_line("11111111-1111-4111-8111-111111111111")
        ),
        r#"{"transactionId": "broken", "items": [1, 2"#.to_owned(),
        clean_line("22222222-2222-4222-8222-222222222222"),
    ]);
    let r = app.ingest_ok(&app.token, body).await;
    assert_eq!(r.lines_seen, 3);
    assert_eq!(r.inserted, 2);
    assert_eq!(r.records_processed, 2);
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].line, 2);
    assert!(
        r.rejected[0].error.starts_with("invalid JSON"),
        "{:?}",
        r.rejected
    );
    let ids: Vec<String> = app
        .bronze()
        .await
        .into_iter()
        .map(|r| r.transaction_id)
        .collect();
    assert_eq!(
        ids,
        [
            "11111111-1111-4111-8111-111111111111",
            "22222222-2222-4222-8222-222222222222"
        ]
    );
    app.finish().await;
}

async fn resending_a_batch_never_duplicates(backend: Backend) {
    let app = app(backend).await;
    let body = ndjson(&[
        clean_line("aaaaaaaa-0000-4000-8000-000000000001"),
        clean_line("aaaaaaaa-0000-4000-8000-000000000002"),
    ]);
    let first = app.ingest_ok(&app.token, body.clone()).await;
    assert_eq!((first.inserted, first.duplicates), (2, 0));
    for _ in 0..2 {
        let again = app.ingest_ok(&app.token, body.clone()).await;
        assert_eq!((again.inserted, again.duplicates), (0, 2));
        assert_eq!(again.records_processed, 2);
    }
    // A batch repeating an id within itself lands it once.
    let twice = ndjson(&[
        clean_line("aaaaaaaa-0000-4000-8000-000000000003"),
        clean_line("aaaaaaaa-0000-4000-8000-000000000003"),
    ]);
    let r = app.ingest_ok(&app.token, twice).await;
    assert_eq!((r.inserted, r.duplicates), (1, 1));
    assert_eq!(app.store.bronze_count().await.unwrap(), 3);
    app.finish().await;
}

async fn gzip_body_is_accepted(backend: Backend) {
    let app = app(backend).await;
    let body = ndjson(&[
        clean_line("bbbbbbbb-0000-4000-8000-000000000001"),
        clean_line("bbbbbbbb-0000-4000-8000-000000000002"),
    ]);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let compressed = gz.finish().unwrap();
    let response = app
        .client
        .post(app.url("/v1/ingest"))
        .bearer_auth(&app.token)
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(compressed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let r: scout_common::IngestResponse = response.json().await.unwrap();
    assert_eq!((r.lines_seen, r.inserted), (2, 2));

    // A corrupt gzip body is a client error, not a crash.
    let response = app
        .client
        .post(app.url("/v1/ingest"))
        .bearer_auth(&app.token)
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(b"this is not gzip".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    app.finish().await;
}

async fn unknown_missing_and_revoked_tokens_get_401(backend: Backend) {
    let app = app(backend).await;
    let body = ndjson(&[clean_line("cccccccc-0000-4000-8000-000000000001")]);
    let unknown = app.ingest("scout_not-a-real-token", body.clone()).await;
    assert_eq!(unknown.status(), 401);
    assert!(unknown.headers().contains_key("www-authenticate"));
    let json: Value = unknown.json().await.unwrap();
    assert_eq!(json["success"], false);

    let missing = app
        .client
        .post(app.url("/v1/ingest"))
        .header("content-type", "application/x-ndjson")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    // The body was not read: the connection cannot carry another request.
    assert_eq!(missing.headers()["connection"], "close");

    let token = app.add_device("SCOUTPI-0009", "109").await;
    let line = ndjson(&[json!({"transactionId": "t-9", "deviceId": "SCOUTPI-0009"}).to_string()]);
    assert_eq!(app.ingest(&token, line.clone()).await.status(), 200);
    assert!(app.store.revoke_device("SCOUTPI-0009").await.unwrap());
    assert_eq!(app.ingest(&token, line).await.status(), 401);
    assert_eq!(app.store.bronze_count().await.unwrap(), 1);
    app.finish().await;
}

async fn lines_for_another_device_are_refused(backend: Backend) {
    let app = app(backend).await;
    let other = json!({"transactionId": "x-1", "deviceId": "scoutpi-0099"}).to_string();
    let own_lower = json!({"transactionId": "x-2", "deviceId": "scoutpi-0004"}).to_string();
    let no_device = json!({"transactionId": "x-3"}).to_string();

    // Mixed: the foreign line is rejected with its line number, the rest land.
    let r = app
        .ingest_ok(&app.token, ndjson(&[&other, &own_lower, &no_device]))
        .await;
    assert_eq!(r.inserted, 2);
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].line, 1);
    assert_eq!(r.rejected[0].transaction_id.as_deref(), Some("x-1"));
    assert!(r.rejected[0].error.contains("another device"));

    // Only foreign lines: the whole request is forbidden.
    let response = app.ingest(&app.token, ndjson(&[&other])).await;
    assert_eq!(response.status(), 403);
    let body: scout_common::IngestResponse = response.json().await.unwrap();
    assert!(!body.success);
    assert!(body.is_balanced());
    let devices: Vec<String> = app
        .bronze()
        .await
        .into_iter()
        .map(|r| r.device_id)
        .collect();
    assert_eq!(devices, ["SCOUTPI-0004", "SCOUTPI-0004"]);
    app.finish().await;
}

async fn oversized_body_gets_413_without_being_read(backend: Backend) {
    let limits = IngestLimits {
        max_body_bytes: 64 * 1024,
        ..IngestLimits::default()
    };
    let app = app_with(backend, limits).await;
    // Announce 100 MB, send 1 KB, and wait: the answer must come without the rest (which is
    // never sent: a server waiting for it would never answer; the bound is generous because
    // the suite's memory tests load the machine).
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/ingest HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: 100000000\r\n\r\n",
        app.addr, app.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b' '; 1024]).await.unwrap();
    let mut answer = vec![0_u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut answer))
        .await
        .expect("413 must come before the body is sent")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");

    // A client that keeps sending and reads late still gets the whole answer, not a reset.
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    // More than the server reads ahead: some of it is still unread when the server closes
    // (the write stops when the buffers fill; whatever it managed is enough).
    let body = vec![b' '; 1024 * 1024];
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(&body)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the connection ends")
        .expect("the answer arrives whole, not cut by a reset");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert_eq!(app.store.bronze_count().await.unwrap(), 0);
    app.finish().await;
}

async fn chunked_body_over_the_limit_gets_413(backend: Backend) {
    let limits = IngestLimits {
        max_body_bytes: 64 * 1024,
        ..IngestLimits::default()
    };
    let app = app_with(backend, limits).await;
    // No Content-Length: the collector counts as it reads.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..100)
        .map(|i| {
            Ok(ndjson(&[clean_line(&format!("dddddddd-0000-4000-8000-{i:012}"))]).into_bytes())
        })
        .collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let response = app.ingest(&app.token, body).await;
    assert_eq!(response.status(), 413);
    app.finish().await;
}

async fn wrong_content_type_or_encoding_gets_415(backend: Backend) {
    let app = app(backend).await;
    let body = ndjson(&[clean_line("eeeeeeee-0000-4000-8000-000000000001")]);
    for (ct, ce) in [
        ("application/json", None),
        ("multipart/form-data; boundary=x", None),
        ("application/x-ndjson", Some("br")),
    ] {
        let mut request = app
            .client
            .post(app.url("/v1/ingest"))
            .bearer_auth(&app.token)
            .header("content-type", ct)
            .body(body.clone());
        if let Some(ce) = ce {
            request = request.header("content-encoding", ce);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 415, "{ct} {ce:?}");
    }
    for ct in [
        "application/x-ndjson",
        "application/jsonl",
        "text/plain; charset=utf-8",
        "application/octet-stream",
    ] {
        let response = app
            .client
            .post(app.url("/v1/ingest"))
            .bearer_auth(&app.token)
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{ct}");
    }
    assert_eq!(app.store.bronze_count().await.unwrap(), 1);
    app.finish().await;
}

async fn over_long_line_is_rejected_and_neighbours_land(backend: Backend) {
    let limits = IngestLimits {
        max_line_bytes: 8 * 1024,
        ..IngestLimits::default()
    };
    let app = app_with(backend, limits).await;
    let huge = json!({"transactionId": "huge", "note": "x".repeat(20_000)}).to_string();
    let body = ndjson(&[
        clean_line("ffffffff-0000-4000-8000-000000000001"),
        huge,
        String::new(),
        clean_line("ffffffff-0000-4000-8000-000000000002"),
    ]);
    let r = app.ingest_ok(&app.token, body).await;
    assert_eq!(r.lines_seen, 3, "blank lines are not counted");
    assert_eq!(r.inserted, 2);
    assert_eq!(r.rejected[0].line, 2);
    assert!(r.rejected[0].error.contains("longer than 8192 bytes"));
    app.finish().await;
}

async fn busy_device_gets_429_and_busy_collector_503(backend: Backend) {
    let limits = IngestLimits {
        max_in_flight: 2,
        max_in_flight_per_device: 1,
        ..IngestLimits::default()
    };
    let app = app_with(backend, limits).await;
    let other_token = app.add_device("SCOUTPI-0005", "105").await;
    // Hold one request open per device by streaming a body that does not end yet.
    let (tx_a, rx_a) = tokio::sync::oneshot::channel::<()>();
    let (tx_b, rx_b) = tokio::sync::oneshot::channel::<()>();
    let slow = |rx: tokio::sync::oneshot::Receiver<()>, line: String| {
        let first = futures_util::stream::once(async move { Ok::<_, std::io::Error>(line) });
        let rest = futures_util::stream::once(async move {
            let _ = rx.await;
            Ok::<_, std::io::Error>(String::new())
        });
        reqwest::Body::wrap_stream(futures_util::StreamExt::chain(first, rest))
    };
    let a = {
        let body = slow(
            rx_a,
            ndjson(&[clean_line("99999999-0000-4000-8000-000000000001")]),
        );
        let request = app
            .client
            .post(app.url("/v1/ingest"))
            .bearer_auth(&app.token)
            .header("content-type", "application/x-ndjson")
            .body(body);
        tokio::spawn(request.send())
    };
    let b = {
        let body = slow(
            rx_b,
            ndjson(&[json!({"transactionId": "b-1", "deviceId": "SCOUTPI-0005"}).to_string()]),
        );
        let request = app
            .client
            .post(app.url("/v1/ingest"))
            .bearer_auth(&other_token)
            .header("content-type", "application/x-ndjson")
            .body(body);
        tokio::spawn(request.send())
    };
    // Both are admitted once their devices have been seen: the slot is taken right after the
    // token check, with no await in between.
    let mut admitted = false;
    for _ in 0..250 {
        let seen = app.store.list_devices().await.unwrap();
        if ["SCOUTPI-0004", "SCOUTPI-0005"].iter().all(|id| {
            seen.iter()
                .any(|d| d.device_id == *id && d.last_seen_at.is_some())
        }) {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted, "the slow requests were never admitted");
    // Their handlers take the slots as soon as they run again after the token check: until
    // then a request of the device may still be served (and lands; the same line is resent).
    let line = ndjson(&[clean_line("99999999-0000-4000-8000-000000000002")]);
    let mut response = app.ingest(&app.token, line.clone()).await;
    for _ in 0..250 {
        if response.status() != 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        response = app.ingest(&app.token, line.clone()).await;
    }
    assert_eq!(response.status(), 429, "a busy device must wait");
    assert_eq!(response.headers()["retry-after"], "1");
    let third = app.add_device("SCOUTPI-0007", "107").await;
    let response = app
        .ingest(
            &third,
            ndjson(&[json!({"transactionId": "c-1"}).to_string()]),
        )
        .await;
    assert_eq!(response.status(), 503, "a busy collector must shed load");
    assert!(response.headers().contains_key("retry-after"));
    tx_a.send(()).unwrap();
    tx_b.send(()).unwrap();
    assert_eq!(a.await.unwrap().unwrap().status(), 200);
    assert_eq!(b.await.unwrap().unwrap().status(), 200);
    // Slots are released: the device is served again.
    assert_eq!(app.ingest(&app.token, line).await.status(), 200);
    assert_eq!(app.store.bronze_count().await.unwrap(), 3);
    app.finish().await;
}

async fn compat_path_takes_ndjson_and_the_json_envelope(backend: Backend) {
    let app = app(backend).await;
    let url = app.url("/functions/v1/ingest-stream");
    let response = app
        .client
        .post(&url)
        .bearer_auth(&app.token)
        .header("content-type", "application/x-ndjson")
        .body(ndjson(&[clean_line(
            "12121212-0000-4000-8000-000000000001",
        )]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let envelope = json!({
        "source": "scoutpi-edge",
        "deviceId": "scoutpi-0004",
        "storeId": "104",
        "data": ndjson(&[
            clean_line("12121212-0000-4000-8000-000000000002"),
            "not json".to_owned(),
            clean_line("12121212-0000-4000-8000-000000000001"),
        ]),
    });
    let response = app
        .client
        .post(&url)
        .bearer_auth(&app.token)
        .json(&envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let r: scout_common::IngestResponse = response.json().await.unwrap();
    assert_eq!((r.inserted, r.duplicates, r.rejected.len()), (1, 1, 1));
    assert_eq!(r.rejected[0].line, 2);

    let foreign = json!({"deviceId": "SCOUTPI-0100", "data": ""});
    let response = app
        .client
        .post(&url)
        .bearer_auth(&app.token)
        .json(&foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let rows = app.bronze().await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[1].processing_metadata["endpoint"],
        "functions/v1/ingest-stream"
    );
    app.finish().await;
}

async fn healthz_reports_the_database(backend: Backend) {
    let app = app(backend).await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let want = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(body["database"], want);
    app.finish().await;
}

async fn large_body_lands_in_batches(backend: Backend) {
    let limits = IngestLimits {
        batch_rows: 100,
        ..IngestLimits::default()
    };
    let app = app_with(backend, limits).await;
    let lines: Vec<String> = (0..2_500)
        .map(|i| clean_line(&format!("13131313-0000-4000-8000-{i:012}")))
        .collect();
    let r = app.ingest_ok(&app.token, ndjson(&lines)).await;
    assert_eq!((r.lines_seen, r.inserted), (2_500, 2_500));
    assert_eq!(app.store.bronze_count().await.unwrap(), 2_500);
    app.finish().await;
}

async fn a_row_the_database_refuses_is_rejected_alone(backend: Backend) {
    let app = app(backend).await;
    // Stand in for a value the database cannot store: it refuses one transaction id.
    let refuse = match app.store.backend() {
        scout_collector::store::Backend::Sqlite => {
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON bronze.raw_transactions \
             WHEN NEW.transaction_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poison row'); END"
        }
        scout_collector::store::Backend::Postgres => {
            "ALTER TABLE bronze.raw_transactions \
             ADD CONSTRAINT refuse_poison CHECK (transaction_id <> 'poison')"
        }
    };
    app.store.execute(refuse, &[]).await.unwrap();
    let body = ndjson(&[
        clean_line("31313131-0000-4000-8000-000000000001"),
        clean_line("poison"),
        clean_line("31313131-0000-4000-8000-000000000002"),
        r#"{"transactionId": "nul", "note": "a\u0000b"}"#.to_owned(),
    ]);
    let r = app.ingest_ok(&app.token, body.clone()).await;
    assert_eq!(r.inserted, 2);
    assert_eq!(r.rejected.len(), 2);
    // Rejections come in line order, whichever stage refused them.
    assert_eq!(r.rejected[0].line, 2);
    assert_eq!(r.rejected[0].transaction_id.as_deref(), Some("poison"));
    assert!(r.rejected[0].error.starts_with("could not be stored"));
    assert_eq!(r.rejected[1].line, 4, "rejected while parsing");
    assert!(r.rejected[1].error.contains("NUL"), "{:?}", r.rejected);
    // Resending: the good rows are duplicates, the bad ones rejected again.
    let again = app.ingest_ok(&app.token, body).await;
    assert_eq!(
        (again.inserted, again.duplicates, again.rejected.len()),
        (0, 2, 2)
    );
    app.finish().await;
}

/// PostgreSQL only: what its storage does with a landed row.
mod postgres_storage {
    mod postgres {
        use crate::helpers::{Backend, TestApp, TestDb, clean_line, ndjson};
        use serde_json::Value;

        /// A payload past the size at which PostgreSQL compresses a value is stored compressed
        /// with LZ4 (migration `20261210000100`), or with pglz on a server built without LZ4.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn large_payloads_are_compressed_with_lz4_where_the_server_has_it() {
            let Some(db) = TestDb::for_backend(Backend::Postgres).await else {
                return;
            };
            let app = TestApp::spawn(db).await;
            let mut line: Value =
                serde_json::from_str(&clean_line("14141414-0000-4000-8000-000000000001")).unwrap();
            // About 6 KB of notes a cashier might type: compressible, and past the threshold.
            line["notes"] = (0..200)
                .map(|i| format!("item {i} restocked from the Divisoria supplier; "))
                .collect::<String>()
                .into();
            let r = app.ingest_ok(&app.token, ndjson(&[line.to_string()])).await;
            assert_eq!(r.inserted, 1);
            let has_lz4 = app
                .store
                .query(
                    "CREATE TEMPORARY TABLE lz4_probe (t text COMPRESSION lz4)",
                    &[],
                )
                .await
                .is_ok();
            let stored = app
                .store
                .query_texts(
                    "SELECT pg_column_compression(payload)::text FROM bronze.raw_transactions",
                    &[],
                )
                .await
                .unwrap();
            let want = if has_lz4 { "lz4" } else { "pglz" };
            assert_eq!(stored, vec![Some(want.to_owned())]);
            app.finish().await;
        }

        /// Bronze keeps each document as the text that landed (`json`, migration
        /// `20261211000100`); the contract's view shows the same columns as `jsonb`, so
        /// operators' SQL with `jsonb` operators runs on it unchanged.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn documents_are_stored_as_text_and_read_as_jsonb_through_the_view() {
            let Some(db) = TestDb::for_backend(Backend::Postgres).await else {
                return;
            };
            let app = TestApp::spawn(db).await;
            let id = "14141414-0000-4000-8000-000000000002";
            let r = app.ingest_ok(&app.token, ndjson(&[clean_line(id)])).await;
            assert_eq!(r.inserted, 1);
            for (table, want) in [
                ("bronze.raw_transactions", "json,json,json,json"),
                ("bronze.scout_raw_transactions", "jsonb,jsonb,jsonb,jsonb"),
            ] {
                let types = app
                    .store
                    .query_texts(
                        &format!(
                            "SELECT concat_ws(',', pg_typeof(items), pg_typeof(detected_brands), \
                             pg_typeof(processing_metadata), pg_typeof(payload)) FROM {table}"
                        ),
                        &[],
                    )
                    .await
                    .unwrap();
                assert_eq!(types, vec![Some(want.to_owned())], "{table}");
            }
            let sent: Value = serde_json::from_str(&clean_line(id)).unwrap();
            let items = sent["items"].as_array().unwrap().len() as i64;
            let answers = app
                .store
                .query_texts(
                    &format!(
                        "SELECT concat_ws(',', payload @> '{{\"transactionId\": \"{id}\"}}', \
                         jsonb_array_length(items), processing_metadata ? 'endpoint', \
                         jsonb_typeof(detected_brands)) FROM bronze.scout_raw_transactions"
                    ),
                    &[],
                )
                .await
                .unwrap();
            assert_eq!(answers, vec![Some(format!("t,{items},t,object"))]);
            app.finish().await;
        }
    }
}

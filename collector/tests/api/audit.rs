//! The operations audit: every ingest request writes one `ingest-stream` row to
//! `metadata.function_audit` (device, rows landed, duration, details), and a failing audit write
//! never fails the request.

use serde_json::Value;

use crate::helpers::{Backend, TestApp, TestDb, clean_line, ndjson};

crate::both_backends!(
    each_ingest_request_is_audited,
    a_failing_audit_never_fails_the_request,
);

async fn each_ingest_request_is_audited(backend: Backend) {
    let app = TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await;
    let first = clean_line("a0a0a0a0-0000-4000-8000-000000000001");
    let second = clean_line("a0a0a0a0-0000-4000-8000-000000000002");
    let r = app
        .ingest_ok(
            &app.token,
            ndjson(&[first.as_str(), second.as_str(), "{oops"]),
        )
        .await;
    assert_eq!((r.inserted, r.rejected.len()), (2, 1));
    // The same lines again: duplicates, nothing landed.
    let again = app.ingest_ok(&app.token, ndjson(&[first.as_str()])).await;
    assert_eq!(again.duplicates, 1);

    let rows = app
        .store
        .query(
            "SELECT function_name, device_id, row_count::int8, duration_ms::int8, error, \
             details::text FROM metadata.function_audit ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "one row per request");
    let read = |i: usize| {
        let r = &rows[i];
        let details: Value = serde_json::from_str(&r.text(5).unwrap()).unwrap();
        (
            r.text(0).unwrap(),
            r.opt_text(1).unwrap(),
            r.opt_int(2).unwrap(),
            r.int(3).unwrap(),
            r.opt_text(4).unwrap(),
            details,
        )
    };
    let (name, device, landed, ms, error, details) = read(0);
    assert_eq!(name, "ingest-stream");
    assert_eq!(device.as_deref(), Some("SCOUTPI-0004"));
    assert_eq!(landed, Some(2));
    assert!((0..60_000).contains(&ms), "{ms} ms");
    assert_eq!(error, None);
    assert_eq!(details["endpoint"], "v1/ingest");
    assert_eq!(
        (&details["lines_seen"], &details["rejected"]),
        (&Value::from(3), &Value::from(1))
    );
    let (_, _, landed, _, _, details) = read(1);
    assert_eq!(landed, Some(0));
    assert_eq!(details["duplicates"], 1);
    app.finish().await;
}

async fn a_failing_audit_never_fails_the_request(backend: Backend) {
    let app = TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await;
    app.store
        .execute("DROP TABLE metadata.function_audit", &[])
        .await
        .unwrap();
    let r = app
        .ingest_ok(
            &app.token,
            ndjson(&[clean_line("a0a0a0a0-0000-4000-8000-000000000003")]),
        )
        .await;
    assert_eq!(r.inserted, 1);
    assert_eq!(app.bronze().await.len(), 1, "the row landed all the same");
    app.finish().await;
}

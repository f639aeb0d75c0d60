//! Hostile and broken clients: millions of bad lines and gzip bombs cost bounded memory in the
//! real process, stalled bodies and idle connections are cut off and free their slots, a device
//! writes only for its own store, error answers close the connection, and a database outage is
//! a 503 for the whole request, never a rejected line.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use scout_common::IngestResponse;
use scout_tests::bins::{self, Process, peak_rss_kib};
use serde_json::json;

use crate::helpers::{Backend, TestApp, TestDb, clean_line, install_crypto, ndjson};

crate::both_backends!(
    stalled_bodies_time_out_and_free_their_slots,
    stalled_forms_questions_and_uploads_time_out,
    a_client_that_goes_away_frees_its_slots,
    silent_half_sent_and_idle_connections_are_closed,
    lines_naming_another_store_are_rejected,
    error_answers_close_the_connection,
);

/// The memory tests measure the request path before the database (framing, parsing, the
/// answer), which is the same code on both backends; they run once, on SQLite.
mod memory {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn millions_of_bad_lines_cost_bounded_memory() {
        super::millions_of_bad_lines_cost_bounded_memory(crate::helpers::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gzip_bomb_on_the_envelope_path_is_refused_in_bounded_memory() {
        super::a_gzip_bomb_on_the_envelope_path_is_refused_in_bounded_memory(
            crate::helpers::Backend::Sqlite,
        )
        .await;
    }
}

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_scout-collector"))
}

fn client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A real collector (ingest only) with device SCOUTPI-0004 of store 104; its token.
fn collector(db: &TestDb, dir: &Path, extra: &[&str]) -> (Process, String) {
    let token = bins::add_device(bin(), &db.url, "SCOUTPI-0004", "104");
    let mut args = vec!["--process", "false"];
    args.extend_from_slice(extra);
    let process = bins::start_collector(bin(), &db.url, dir, "127.0.0.1:0", &args);
    (process, token)
}

/// Bound on how much one hostile request may raise the collector's peak resident memory.
const HOSTILE_REQUEST_BOUND_KIB: u64 = 32 * 1024;

async fn millions_of_bad_lines_cost_bounded_memory(backend: Backend) {
    let db = TestDb::for_backend(backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (collector, token) = collector(&db, dir.path(), &[]);
    let client = client();
    let post = |body: Vec<u8>, gzipped: bool| {
        let mut request = client
            .post(collector.url("/v1/ingest"))
            .bearer_auth(&token)
            .header("content-type", "application/x-ndjson");
        if gzipped {
            request = request.header("content-encoding", "gzip");
        }
        request.body(body).send()
    };
    // Warm up (pools, buffers, page caches) with good lines, then take the baseline.
    let good: Vec<String> = (0..2_000)
        .map(|i| clean_line(&format!("0000dddd-0000-4000-8000-{i:012}")))
        .collect();
    let warm = post(ndjson(&good).into_bytes(), false).await.unwrap();
    assert_eq!(warm.status(), 200);
    let baseline = peak_rss_kib(collector.pid());

    // 8 million one-character lines, gzipped to a few KB; then 4 million plain (8 MB).
    for (lines, gzipped) in [(8_000_000_u64, true), (4_000_000, false)] {
        let plain = "x\n".repeat(usize::try_from(lines).unwrap()).into_bytes();
        let body = if gzipped { gzip(&plain) } else { plain };
        let wire = body.len();
        let response = post(body, gzipped).await.unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        let answer: IngestResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(answer.lines_seen, lines);
        assert_eq!(answer.inserted + answer.duplicates, 0);
        assert_eq!(
            answer.rejected.len(),
            scout_common::protocol::MAX_REJECTED_LISTED
        );
        assert_eq!(
            answer.rejected_omitted,
            lines - scout_common::protocol::MAX_REJECTED_LISTED as u64
        );
        assert!(answer.is_balanced());
        // Listed rejections are the first lines, each with its number and reason.
        assert_eq!(answer.rejected[0].line, 1);
        assert_eq!(answer.rejected[9_999].line, 10_000);
        assert!(answer.rejected.iter().all(|r| !r.error.is_empty()));
        let peak = peak_rss_kib(collector.pid());
        eprintln!(
            "{backend:?}: {lines} bad lines ({wire} bytes on the wire, gzip {gzipped}): \
             answer {} bytes, peak RSS {baseline} → {peak} KiB",
            text.len()
        );
        assert!(
            peak.saturating_sub(baseline) < HOSTILE_REQUEST_BOUND_KIB,
            "{lines} bad lines raised peak RSS by {} KiB",
            peak - baseline
        );
    }
    // The good lines landed; the collector still answers.
    let again = post(ndjson(&good).into_bytes(), false).await.unwrap();
    let again: IngestResponse = again.json().await.unwrap();
    assert_eq!(again.duplicates, 2_000);
    collector.kill();
    db.cleanup().await;
}

async fn a_gzip_bomb_on_the_envelope_path_is_refused_in_bounded_memory(backend: Backend) {
    let db = TestDb::for_backend(backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Decoded NDJSON bodies are capped at 32 MiB here (256 MiB by default), so that a bomb of
    // 64 MiB is over the limit on both paths.
    let (collector, token) = collector(&db, dir.path(), &["--max-decoded-bytes", "33554432"]);
    let client = client();
    let envelope = || {
        client
            .post(collector.url("/functions/v1/ingest-stream"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
    };
    let line = clean_line("0000eeee-0000-4000-8000-000000000001");
    let ok = envelope()
        .body(json!({"source": "test", "data": ndjson(&[&line])}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let baseline = peak_rss_kib(collector.pid());

    // 64 MiB of JSON whitespace inflates from about 64 KiB of gzip.
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    let spaces = vec![b' '; 1024 * 1024];
    for _ in 0..64 {
        encoder.write_all(&spaces).unwrap();
    }
    encoder.write_all(b"{\"data\": \"\"}").unwrap();
    let bomb = encoder.finish().unwrap();
    let response = envelope()
        .header("content-encoding", "gzip")
        .body(bomb.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["connection"], "close");
    let peak = peak_rss_kib(collector.pid());
    eprintln!(
        "{backend:?}: gzip bomb of {} bytes (64 MiB inflated) → 413; peak RSS {baseline} → {peak} KiB",
        bomb.len()
    );
    assert!(
        peak.saturating_sub(baseline) < HOSTILE_REQUEST_BOUND_KIB,
        "the bomb raised peak RSS by {} KiB",
        peak - baseline
    );
    // The same bomb as NDJSON streams until its decoded size passes the cap: memory bounded too.
    let response = client
        .post(collector.url("/v1/ingest"))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413, "decoded size is over the limit");
    let peak = peak_rss_kib(collector.pid());
    assert!(peak.saturating_sub(baseline) < HOSTILE_REQUEST_BOUND_KIB);
    collector.kill();
    db.cleanup().await;
}

/// Sends `head` (and `body`) on a new connection and returns everything the server sends until
/// it closes the connection, with how long that took.
fn exchange(addr: &str, head: &str, body: &[u8], limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut received = Vec::new();
    let result = stream.read_to_end(&mut received);
    let elapsed = started.elapsed();
    assert!(
        result.is_ok(),
        "the connection was still open after {limit:?}: {result:?}"
    );
    (String::from_utf8_lossy(&received).into_owned(), elapsed)
}

fn addr_of(process: &Process) -> String {
    process
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

async fn stalled_bodies_time_out_and_free_their_slots(backend: Backend) {
    let db = TestDb::for_backend(backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (collector, token) = collector(&db, dir.path(), &["--body-idle-secs", "1"]);
    let addr = addr_of(&collector);
    // Four uploads (the device's limit) send their headers and a few bytes, then stall, as a
    // Pi does when its mobile link drops mid-upload.
    let head = upload_head(&addr, &token);
    let stalled: Vec<_> = (0..4)
        .map(|_| {
            let (addr, head) = (addr.clone(), head.clone());
            std::thread::spawn(move || {
                exchange(&addr, &head, b"{\"transac", Duration::from_secs(20))
            })
        })
        .collect();
    // While they hold the slots, another upload of the device is told to come back later.
    let client = client();
    let line = clean_line("0000ffff-0000-4000-8000-000000000001");
    let post = || post_line(&client, &collector, &token, &line);
    wait_for_in_flight(&client, &collector, 4).await;
    assert_eq!(post().await.unwrap().status(), 429);
    for thread in stalled {
        let (answer, took) = thread.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
        assert!(took >= Duration::from_secs(1), "{took:?}");
        assert!(took < Duration::from_secs(8), "{took:?}");
    }
    // The slots are free again.
    let response = post().await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: IngestResponse = response.json().await.unwrap();
    assert_eq!(answer.inserted, 1, "{answer:?}");
    collector.kill();
    db.cleanup().await;
}

async fn stalled_forms_questions_and_uploads_time_out(backend: Backend) {
    let db = TestDb::for_backend(backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (collector, _) = collector(&db, dir.path(), &["--body-idle-secs", "1"]);
    let addr = addr_of(&collector);
    // Bodies promised and never sent: no token is needed to try this, so the collector must
    // not wait for them.
    for (path, kind, start) in [
        (
            "/login",
            "application/x-www-form-urlencoded",
            &b"token=abc"[..],
        ),
        (
            "/v1/nl2sql",
            "application/json",
            &b"{\"question\": \"sales"[..],
        ),
        ("/functions/v1/nl2sql", "application/json", &b"{"[..]),
        (
            "/v1/files",
            "multipart/form-data; boundary=x",
            &b"--x\r\n"[..],
        ),
    ] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {kind}\r\n\
             Content-Length: 100000\r\n\r\n"
        );
        let (answer, took) = exchange(&addr, &head, start, Duration::from_secs(20));
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(took < Duration::from_secs(8), "{path}: {took:?}");
    }
    // A question larger than any question is refused before it is read.
    let head = format!(
        "POST /v1/nl2sql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 100000000\r\n\r\n"
    );
    let (answer, _) = exchange(&addr, &head, b"", Duration::from_secs(20));
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // A question sent whole is still answered.
    let client = client();
    let response = client
        .post(collector.url("/v1/nl2sql"))
        .json(&serde_json::json!({"question": "sales yesterday"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    collector.kill();
    db.cleanup().await;
}

async fn a_client_that_goes_away_frees_its_slots(backend: Backend) {
    let db = TestDb::for_backend(backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The default idle timeout (30 s) is far longer than this test waits: the slots must be
    // freed because the clients went away, not because their bodies timed out.
    let (collector, token) = collector(&db, dir.path(), &[]);
    let addr = addr_of(&collector);
    let head = upload_head(&addr, &token);
    let client = client();
    let line = clean_line("0000ffff-0000-4000-8000-000000000002");
    let post = || post_line(&client, &collector, &token, &line);
    // Four uploads take the device's four slots, then their links drop.
    let mut streams: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut stream = TcpStream::connect(&addr).unwrap();
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(b"{\"transac").unwrap();
            stream
        })
        .collect();
    // Probing before all four hold their slots would take one from them: wait until the
    // collector counts four requests in flight, then check that the device is full.
    wait_for_in_flight(&client, &collector, 4).await;
    assert_eq!(post().await.unwrap().status(), 429);
    streams.clear();
    let dropped = Instant::now();
    let status = loop {
        let status = post().await.unwrap().status();
        if status != 429 || dropped.elapsed() > Duration::from_secs(10) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        status, 200,
        "the slots were not freed when the clients went away"
    );
    assert!(
        dropped.elapsed() < Duration::from_secs(5),
        "{:?}",
        dropped.elapsed()
    );
    collector.kill();
    db.cleanup().await;
}

/// The header of an upload that declares a 100,000-byte body, as a raw HTTP/1.1 client sends it.
fn upload_head(addr: &str, token: &str) -> String {
    format!(
        "POST /v1/ingest HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n"
    )
}

/// Posts one NDJSON line to the collector's `/v1/ingest`.
async fn post_line(
    client: &reqwest::Client,
    collector: &Process,
    token: &str,
    line: &str,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(collector.url("/v1/ingest"))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(ndjson(&[line]))
        .send()
        .await
}

/// Waits until the collector's `scout_ingest_requests_in_flight` reads `n`.
async fn wait_for_in_flight(client: &reqwest::Client, collector: &Process, n: u32) {
    let want = format!("\nscout_ingest_requests_in_flight {n}\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = client
            .get(collector.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains(&want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never {n} requests in flight:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn silent_half_sent_and_idle_connections_are_closed(backend: Backend) {
    let db = TestDb::for_backend(backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (collector, _token) = collector(
        &db,
        dir.path(),
        &["--header-timeout-secs", "1", "--keep-alive-secs", "2"],
    );
    let addr = addr_of(&collector);
    let limit = Duration::from_secs(15);
    // Connects and says nothing.
    let (answer, took) = exchange(&addr, "", b"", limit);
    assert!(answer.is_empty(), "{answer}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // Half a header, then nothing.
    let (answer, took) = exchange(&addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n", b"", limit);
    assert!(answer.is_empty(), "{answer}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // A whole request on a keep-alive connection, answered; then the idle connection is closed
    // after the keep-alive time.
    let (answer, took) = exchange(
        &addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"",
        limit,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
    collector.kill();
    db.cleanup().await;
}

async fn lines_naming_another_store_are_rejected(backend: Backend) {
    let db = TestDb::for_backend(backend).await.unwrap();
    let app = TestApp::spawn_ingest_only(db).await;
    let token = app.token.clone();
    let line = |id: &str, store: serde_json::Value| {
        let mut t: serde_json::Value = serde_json::from_str(&clean_line(id)).unwrap();
        match store {
            serde_json::Value::Null => {
                t.as_object_mut().unwrap().remove("storeId");
            }
            store => t["storeId"] = store,
        }
        t.to_string()
    };
    let body = ndjson(&[
        line("0000aaaa-1111-4000-8000-000000000001", json!("104")),
        line("0000aaaa-1111-4000-8000-000000000002", json!("999")),
        line("0000aaaa-1111-4000-8000-000000000003", json!(104)),
        line(
            "0000aaaa-1111-4000-8000-000000000004",
            serde_json::Value::Null,
        ),
        line("0000aaaa-1111-4000-8000-000000000005", json!(999)),
    ]);
    let answer = app.ingest_ok(&token, body.clone()).await;
    assert_eq!(answer.inserted, 3);
    let rejected: Vec<_> = answer.rejected.iter().map(|r| r.line).collect();
    assert_eq!(rejected, [2, 5]);
    for r in &answer.rejected {
        assert!(r.error.contains("storeId 999"), "{}", r.error);
        assert!(r.error.contains("registered to store 104"), "{}", r.error);
    }
    let stores: Vec<_> = app
        .bronze()
        .await
        .into_iter()
        .map(|row| row.store_id)
        .collect();
    assert!(
        stores.iter().all(|s| s.as_deref() == Some("104")),
        "{stores:?}"
    );

    // The envelope's own storeId is checked too: the whole request is refused.
    let response = app
        .client
        .post(app.url("/functions/v1/ingest-stream"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(json!({"storeId": "999", "data": body}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // The operator moves the device: from then on store 999 is its store, and 104 is not.
    let previous = app.store.move_device("SCOUTPI-0004", "999").await.unwrap();
    assert_eq!(previous.as_deref(), Some("104"));
    let answer = app.ingest_ok(&token, body).await;
    assert_eq!(answer.inserted, 2, "{answer:?}");
    let rejected: Vec<_> = answer.rejected.iter().map(|r| r.line).collect();
    assert_eq!(rejected, [1, 3]);
    app.finish().await;
}

async fn error_answers_close_the_connection(backend: Backend) {
    let db = TestDb::for_backend(backend).await.unwrap();
    let app = TestApp::spawn(db).await;
    let token = app.token.clone();
    let body = ndjson(&[clean_line("0000aaaa-2222-4000-8000-000000000001")]);
    // No content type (a missing token: `ingest::unknown_missing_and_revoked_tokens_get_401`).
    let response = app
        .client
        .post(app.url("/v1/ingest"))
        .bearer_auth(&token)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(response.headers()["connection"], "close");
    let error: serde_json::Value = response.json().await.unwrap();
    assert!(error["error"].as_str().unwrap().contains("Content-Type"));
    // A good request keeps the connection.
    let response = app.ingest(&token, body).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("connection").is_none());
    app.finish().await;
}

/// PostgreSQL refusing connections for a while: every answer meanwhile is 503 with
/// `Retry-After`, no line is ever rejected, and the same batch lands whole afterwards.
mod outage {
    mod postgres {
        use super::super::*;

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_database_outage_is_a_503_never_a_rejected_line() {
            let Some(db) = TestDb::postgres().await else {
                return;
            };
            let (admin, name) = db.postgres_names().unwrap();
            let app = TestApp::spawn_ingest_only(db).await;
            let token = app.token.clone();
            let lines: Vec<String> = (0..50)
                .map(|i| clean_line(&format!("0000aaaa-3333-4000-8000-{i:012}")))
                .collect();
            let body = ndjson(&lines);
            let first = app.ingest_ok(&token, ndjson(&lines[..10])).await;
            assert_eq!(first.inserted, 10);

            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap();
            let run = |sql: String| sqlx::query(sqlx::AssertSqlSafe(sql));
            run(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
                .execute(&mut conn)
                .await
                .unwrap();
            run(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ))
            .execute(&mut conn)
            .await
            .unwrap();
            for _ in 0..3 {
                let response = app.ingest(&token, body.clone()).await;
                assert_eq!(response.status(), 503);
                assert!(response.headers().contains_key("retry-after"));
                assert_eq!(response.headers()["connection"], "close");
                let text = response.text().await.unwrap();
                assert!(!text.contains("rejected"), "{text}");
            }
            run(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
                .execute(&mut conn)
                .await
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            let answer = loop {
                let response = app.ingest(&token, body.clone()).await;
                if response.status() == 200 {
                    break response.json::<IngestResponse>().await.unwrap();
                }
                assert_eq!(response.status(), 503);
                assert!(Instant::now() < deadline, "the collector did not recover");
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            assert!(answer.rejected.is_empty(), "{answer:?}");
            assert_eq!((answer.inserted, answer.duplicates), (40, 10));
            assert_eq!(app.bronze().await.len(), 50);
            app.finish().await;
        }
    }
}

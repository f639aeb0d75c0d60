//! `POST /v1/files` and `POST /functions/v1/drive-universal-processor` over real HTTP, on both
//! backends: an upload lands its rows in silver with `data_source = 'drive'`; the same file
//! again is answered as a duplicate and lands nothing more; a file needing review lands
//! nothing; the admin or upload token is required (401 otherwise); an oversized upload is a
//! 413; bad options and a missing `file` part are a 400.

use std::time::{Duration, Instant};

use scout_collector::{AdminToken, FilesConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb};

both_backends!(
    an_upload_lands_in_silver_once_and_the_compat_path_answers_alike,
    a_file_needing_review_lands_nothing_over_http,
    uploads_need_the_admin_or_upload_token,
    an_oversized_upload_is_refused_with_413,
    bad_options_and_a_missing_file_part_are_400,
);

const ADMIN: &str = "admin-0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const UPLOADER: &str = "upload-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const BOUNDARY: &str = "scout-test-boundary-7c1f";

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(crate::helpers::corpus(name)).unwrap()
}

/// A multipart body of `(name, file name, content)` parts.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file_name, content) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file_name {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url(path))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn upload(app: &TestApp, path: &str, name: &str, options: Option<&str>) -> (u16, Value) {
    let content = corpus(name);
    let mut parts: Vec<(&str, Option<&str>, &[u8])> = vec![("file", Some(name), &content)];
    if let Some(options) = options {
        parts.insert(0, ("options", None, options.as_bytes()));
    }
    post(app, path, Some(ADMIN), multipart(&parts)).await
}

async fn app(backend: Backend, files: FilesConfig) -> Option<TestApp> {
    let db = TestDb::for_backend(backend).await?;
    Some(TestApp::spawn_with_files(db, ADMIN, files).await)
}

async fn int(app: &TestApp, sql: &str) -> i64 {
    app.store.query_int(sql, &[]).await.unwrap()
}

const BASIC: &str = "pos_export_basic.csv";
const BASIC_TRANSACTIONS: u64 = 8;
const BASIC_REVENUE: i64 = 182_100;

async fn an_upload_lands_in_silver_once_and_the_compat_path_answers_alike(backend: Backend) {
    let Some(app) = app(backend, FilesConfig::default()).await else {
        return;
    };
    let (status, answer) =
        upload(&app, "/v1/files", BASIC, Some(r#"{"fileId":"drive-123"}"#)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["success"], true);
    assert_eq!(answer["duplicate"], false);
    assert_eq!(answer["status"], "processed");
    assert_eq!(answer["format"], "csv");
    assert_eq!(answer["file"], BASIC);
    assert!(answer["detection_confidence"].as_f64().unwrap() >= 0.9);
    assert!(answer["mapping_confidence"].as_f64().unwrap() >= 0.8);
    assert_eq!(answer["transactions"], BASIC_TRANSACTIONS);
    assert_eq!(answer["inserted"], BASIC_TRANSACTIONS);
    assert_eq!(answer["revenue_centavos"], BASIC_REVENUE);
    assert!(
        answer["schema"]["qualityScore"].as_f64().is_some(),
        "{answer}"
    );
    assert!(answer["schema"]["issues"].is_array(), "{answer}");
    assert!(
        !answer["mapping"]["column_mappings"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let file_ids = app
        .store
        .query_texts("SELECT file_id FROM staging.universal_file_ingestion", &[])
        .await
        .unwrap();
    assert_eq!(file_ids, [Some("drive-123".to_owned())]);

    // The running pipeline (woken by the upload) takes the rows to silver as drive rows.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let silver = int(
            &app,
            "SELECT CAST(COALESCE(sum(amount_centavos), 0) AS BIGINT) \
             FROM silver.transactions_cleaned WHERE data_source = 'drive'",
        )
        .await;
        if silver == BASIC_REVENUE {
            break;
        }
        assert!(Instant::now() < deadline, "silver holds {silver} centavos");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The same content through the compatibility path: a duplicate, nothing more lands.
    let (status, answer) =
        upload(&app, "/functions/v1/drive-universal-processor", BASIC, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["success"], true);
    assert_eq!(answer["duplicate"], true);
    assert_eq!(answer["status"], "duplicate_file");
    assert_eq!(answer["inserted"], 0);
    assert_eq!(
        int(&app, "SELECT count(*) FROM bronze.raw_transactions").await,
        i64::try_from(BASIC_TRANSACTIONS).unwrap()
    );
    assert_eq!(
        int(
            &app,
            "SELECT count(*) FROM staging.universal_file_ingestion"
        )
        .await,
        1
    );
    // Audited like the command's imports.
    assert_eq!(
        int(
            &app,
            "SELECT count(*) FROM metadata.function_audit \
             WHERE function_name = 'universal-processor'"
        )
        .await,
        2
    );
    app.finish().await;
}

async fn a_file_needing_review_lands_nothing_over_http(backend: Backend) {
    let Some(app) = app(backend, FilesConfig::default()).await else {
        return;
    };
    let (status, answer) = upload(
        &app,
        "/functions/v1/drive-universal-processor",
        "headerless_export.csv",
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "needs_review");
    assert!(answer["mapping_confidence"].as_f64().unwrap() < 0.8);
    assert_eq!(answer["inserted"], 0);
    assert!(answer["mapping"]["column_mappings"].is_array(), "{answer}");
    assert_eq!(
        int(&app, "SELECT count(*) FROM bronze.raw_transactions").await,
        0
    );
    let statuses = app
        .store
        .query_texts("SELECT status FROM staging.universal_file_ingestion", &[])
        .await
        .unwrap();
    assert_eq!(statuses, [Some("needs_review".to_owned())]);

    // A file that cannot be read: 422 with the reason, staged as failed, nothing lands.
    let (status, answer) = post(
        &app,
        "/v1/files",
        Some(ADMIN),
        multipart(&[("file", Some("empty.csv"), b"")]),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["success"], false);
    assert_eq!(answer["status"], "failed");
    assert!(
        answer["error"].as_str().unwrap().contains("empty"),
        "{answer}"
    );
    assert_eq!(
        int(&app, "SELECT count(*) FROM bronze.raw_transactions").await,
        0
    );
    app.finish().await;
}

async fn uploads_need_the_admin_or_upload_token(backend: Backend) {
    let files = FilesConfig {
        upload_token: Some(AdminToken::new(UPLOADER)),
        ..FilesConfig::default()
    };
    let Some(app) = app(backend, files).await else {
        return;
    };
    let content = corpus(BASIC);
    let body = || multipart(&[("file", Some(BASIC), &content)]);
    for path in ["/v1/files", "/functions/v1/drive-universal-processor"] {
        for token in [
            None,
            Some("not-the-token-at-all-0000"),
            Some(app.token.as_str()),
        ] {
            let (status, answer) = post(&app, path, token, body()).await;
            assert_eq!(status, 401, "{path} {token:?}: {answer}");
        }
    }
    assert_eq!(
        int(
            &app,
            "SELECT count(*) FROM staging.universal_file_ingestion"
        )
        .await,
        0
    );
    // The upload token admits uploads (and nothing else: the fleet view stays closed to it).
    let (status, answer) = post(&app, "/v1/files", Some(UPLOADER), body()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["inserted"], BASIC_TRANSACTIONS);
    let fleet = app
        .client
        .get(app.url("/v1/devices"))
        .bearer_auth(UPLOADER)
        .send()
        .await
        .unwrap();
    assert_eq!(fleet.status(), 401);
    app.finish().await;
}

async fn an_oversized_upload_is_refused_with_413(backend: Backend) {
    let files = FilesConfig {
        max_file_bytes: 64 * 1024,
        ..FilesConfig::default()
    };
    let Some(app) = app(backend, files).await else {
        return;
    };
    // A body whose file part streams past the cap (its declared length is within the framing
    // allowance, so the count while streaming is what refuses it).
    let mut content = corpus(BASIC);
    while content.len() < 200 * 1024 {
        content.extend_from_slice(b"# padding line to make the file larger than the cap\n");
    }
    let body = multipart(&[("file", Some("big.csv"), &content)]);
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/files HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
        app.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&body)).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the connection ends")
        .expect("the answer arrives whole");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");

    // A declared length far over the cap is refused before the body is read.
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/files HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: 100000000\r\n\r\n",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0_u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut answer))
        .await
        .expect("413 must come before the body is sent")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");

    assert_eq!(
        int(
            &app,
            "SELECT count(*) FROM staging.universal_file_ingestion"
        )
        .await,
        0
    );
    assert_eq!(
        int(&app, "SELECT count(*) FROM bronze.raw_transactions").await,
        0
    );
    app.finish().await;
}

async fn bad_options_and_a_missing_file_part_are_400(backend: Backend) {
    let Some(app) = app(backend, FilesConfig::default()).await else {
        return;
    };
    for (options, says) in [
        ("{not json", "options"),
        (r#"{"forceFormat":"pdf"}"#, "forceFormat"),
        (r#"{"delimiter":";;"}"#, "delimiter"),
        (r#"{"skipRows":-1}"#, "options"),
    ] {
        let (status, answer) = upload(&app, "/v1/files", BASIC, Some(options)).await;
        assert_eq!(status, 400, "{options}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(says),
            "{options}: {answer}"
        );
    }
    // Options alone, no file.
    let (status, answer) = post(
        &app,
        "/v1/files",
        Some(ADMIN),
        multipart(&[("options", None, b"{}")]),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("`file`"),
        "{answer}"
    );
    // Not multipart at all.
    let response = app
        .client
        .post(app.url("/v1/files"))
        .bearer_auth(ADMIN)
        .header("content-type", "text/csv")
        .body(corpus(BASIC))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("multipart/form-data"),
        "{answer}"
    );
    // Multipart without its boundary is a broken body.
    let response = app
        .client
        .post(app.url("/v1/files"))
        .bearer_auth(ADMIN)
        .header("content-type", "multipart/form-data")
        .body(corpus(BASIC))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Two files in one request: refused whole, nothing lands.
    let first = corpus(BASIC);
    let (status, answer) = post(
        &app,
        "/v1/files",
        Some(ADMIN),
        multipart(&[
            ("file", Some(BASIC), &first),
            ("file", Some("second.csv"), b"a,b\n1,2\n"),
        ]),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("second `file`"),
        "{answer}"
    );
    assert_eq!(
        int(&app, "SELECT count(*) FROM bronze.raw_transactions").await,
        0
    );
    // Good options work: a forced format and a delimiter by name.
    let (status, answer) = upload(
        &app,
        "/v1/files",
        BASIC,
        Some(r#"{"forceFormat":"csv","delimiter":"comma","maxRows":100}"#),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["inserted"], BASIC_TRANSACTIONS);
    assert_eq!(
        int(
            &app,
            "SELECT count(*) FROM staging.universal_file_ingestion"
        )
        .await,
        1
    );
    app.finish().await;
}

//! The control room in a real headless browser: Debian's chromium driven through chromedriver
//! (WebDriver, `fantoccini`). A collector with an admin token serves a seeded SQLite database;
//! the test logs in through the form, finds the layers, the gates and the devices, lands new
//! data and watches the page update itself (no reload), checks that a browser without the
//! session gets the form and a 401 for the figures, and saves screenshots (laptop and phone
//! sizes, and the weekly report of the seeded week opened from its file) to `SCOUT_SCREENSHOT_DIR` (default: `CARGO_TARGET_TMPDIR/screenshots`).
//!
//! Without chromium or chromedriver on the PATH the test says SKIPPED loudly and passes, unless
//! `SCOUT_REQUIRE_BROWSER=1` (CI), which makes that a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt as _;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb, ndjson};
use crate::medallion::sale;

const ADMIN: &str = "admin-b7c1d2e3f4a5968778695a4b3c2d1e0f";

/// A program on the PATH.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// chromedriver, killed when the test ends however it ends.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on now (chromedriver takes a port number, not a socket).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver(chromedriver: &Path) -> Driver {
    for _ in 0..5 {
        let port = free_port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = driver.child.try_wait() {
                break; // the port was taken meanwhile: try another
            }
            let status = reqwest::get(format!("{}/status", driver.url)).await;
            if status.is_ok_and(|s| s.status().is_success()) {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(driver);
    }
    panic!("chromedriver did not come up");
}

async fn browser(driver: &Driver, chromium: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,2200",
                     "--hide-scrollbars", "--force-device-scale-factor=1"],
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

fn screenshot_dir() -> PathBuf {
    std::env::var_os("SCOUT_SCREENSHOT_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
        PathBuf::from,
    )
}

/// The bronze card's big number.
async fn bronze_rows(client: &Client) -> String {
    client
        .find(Locator::Css(r#"[data-layer="bronze"] .big"#))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Types `question` into the Ask box and sends it.
async fn ask(client: &Client, question: &str) {
    let input = client.find(Locator::Id("ask-question")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(question).await.unwrap();
    client
        .find(Locator::Css("#ask-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The Ask box's text once its answer has `status`.
async fn wait_for_answer(client: &Client, status: &str) -> String {
    let answer = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!(
            r#"#ask-answer[data-status="{status}"]"#
        )))
        .await
        .unwrap_or_else(|e| panic!("no {status} answer: {e}"));
    answer.text().await.unwrap()
}

fn sales(ids: std::ops::Range<u32>, device: &str, store: &str) -> String {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let lines: Vec<String> = ids
        .map(|i| {
            let mut v = sale(
                &format!("eeeeeeee-0000-4000-8000-{i:012}"),
                &now,
                &[
                    ("Coca-Cola", "Coke Mismo", 2.0, 15.0),
                    ("Tide", "Tide Bar", 1.0, 12.0),
                ],
                "cash",
            );
            v["deviceId"] = json!(device);
            v["storeId"] = json!(store);
            v.to_string()
        })
        .collect();
    ndjson(&lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_real_browser() {
    let required = std::env::var("SCOUT_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let (Some(chromium), Some(chromedriver)) = (
        on_path(&["chromium", "chromium-browser", "google-chrome"]),
        on_path(&["chromedriver"]),
    ) else {
        assert!(
            !required,
            "SCOUT_REQUIRE_BROWSER=1 but chromium or chromedriver is not on the PATH \
             (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "\n*** SKIPPED dashboard_in_a_real_browser: chromium or chromedriver is not on the \
             PATH (apt-get install chromium chromium-driver; SCOUT_REQUIRE_BROWSER=1 makes this \
             a failure) ***\n"
        );
        return;
    };
    let app = TestApp::spawn_with_admin_token(TestDb::sqlite().await, ADMIN).await;
    let t105 = app.add_device("SCOUTPI-0005", "105").await;
    app.add_device("SCOUTPI-0006", "106").await;
    app.ingest_ok(&app.token, sales(0..2, "SCOUTPI-0004", "104"))
        .await;
    app.ingest_ok(&t105, sales(2..3, "SCOUTPI-0005", "105"))
        .await;

    let driver = start_driver(&chromedriver).await;
    let client = browser(&driver, &chromium).await;
    let outcome = async {
        // The login form, then the page.
        client.goto(&app.url("/")).await.unwrap();
        assert!(
            client.find(Locator::Id("pipeline")).await.is_err(),
            "data before a login"
        );
        let token = client
            .find(Locator::Css(r#"input[name="token"]"#))
            .await
            .unwrap();
        token.send_keys(ADMIN).await.unwrap();
        client
            .find(Locator::Css("form.login button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .wait()
            .for_element(Locator::Id("pipeline"))
            .await
            .unwrap();
        assert!(
            client.current_url().await.unwrap().query().is_none(),
            "no token in the URL"
        );
        for layer in ["bronze", "silver", "gold", "staging"] {
            let card = client
                .find(Locator::Css(&format!(r#"[data-layer="{layer}"]"#)))
                .await
                .unwrap();
            assert!(card.text().await.unwrap().to_lowercase().contains(layer));
        }
        assert_eq!(bronze_rows(&client).await, "3");
        let gates = client
            .find_all(Locator::Css("tr[data-gate]"))
            .await
            .unwrap();
        assert!(gates.len() >= 7, "{} gates shown", gates.len());
        let gates_text = client
            .find(Locator::Id("gates"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(gates_text.contains("completeness") && gates_text.contains("freshness"));
        for device in ["SCOUTPI-0004", "SCOUTPI-0005", "SCOUTPI-0006"] {
            client
                .find(Locator::Css(&format!(r#"tr[data-device="{device}"]"#)))
                .await
                .unwrap();
        }
        assert!(
            client.find(Locator::Css("#trends svg rect")).await.is_ok(),
            "a revenue bar"
        );

        // New data: the page updates itself, without a reload (the marker survives).
        client
            .execute("window.__stillHere = true;", vec![])
            .await
            .unwrap();
        app.ingest_ok(&app.token, sales(3..7, "SCOUTPI-0004", "104"))
            .await;
        let deadline = Instant::now() + Duration::from_secs(45);
        let mut seen = bronze_rows(&client).await;
        while seen != "7" && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            seen = bronze_rows(&client).await;
        }
        assert_eq!(seen, "7", "the page did not refresh by itself");
        let kept = client
            .execute("return window.__stillHere === true;", vec![])
            .await
            .unwrap();
        assert_eq!(
            kept,
            Value::Bool(true),
            "the page was reloaded, not refreshed"
        );
        let live = client
            .find(Locator::Id("live"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(live.contains("updated"), "{live}");

        // The Ask box: a hostile question is refused, a question is answered with how it was
        // read, and the answer stays through a refresh of the figures.
        ask(&client, "DROP TABLE silver.transactions_cleaned").await;
        let refused = wait_for_answer(&client, "refused").await;
        assert!(refused.contains("Refused"), "{refused}");
        let deadline = Instant::now() + Duration::from_secs(45);
        let answer = loop {
            ask(&client, "revenue by store").await;
            let answer = wait_for_answer(&client, "answered").await;
            if answer.contains("105") || Instant::now() > deadline {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert!(
            answer.contains("Read as: revenue by store") && answer.contains("104"),
            "{answer}"
        );
        assert!(
            answer.contains("105") && answer.contains("from "),
            "{answer}"
        );
        tokio::time::sleep(Duration::from_millis(
            u64::from(scout_collector::dashboard::page::REFRESH_MS) + 1_000,
        ))
        .await;
        let kept = client
            .find(Locator::Id("ask-answer"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(kept, answer, "the answer did not survive a refresh");

        // Screenshots: a laptop and a phone.
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let laptop = client.screenshot().await.unwrap();
        std::fs::write(dir.join("control-room.png"), &laptop).unwrap();
        client.set_window_size(390, 2400).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let phone = client.screenshot().await.unwrap();
        std::fs::write(dir.join("control-room-phone.png"), &phone).unwrap();
        eprintln!("screenshots in {}", dir.display());
        assert!(laptop.starts_with(b"\x89PNG") && phone.starts_with(b"\x89PNG"));

        // The weekly report of the week these sales fall in, opened from its file.
        let next_week = scout_collector::dashboard::manila_date(chrono::Utc::now())
            + chrono::TimeDelta::days(7);
        let report =
            scout_collector::dashboard::weekly_report(&app.store, next_week, chrono::Utc::now())
                .await
                .unwrap();
        let file = dir.join("weekly-report.html");
        std::fs::write(&file, scout_collector::dashboard::report::render(&report)).unwrap();
        client.set_window_size(1280, 2600).await.unwrap();
        client
            .goto(&format!("file://{}", file.display()))
            .await
            .unwrap();
        let stores = client
            .find(Locator::Id("stores"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(stores.contains("104") && stores.contains("105"), "{stores}");
        std::fs::write(
            dir.join("weekly-report.png"),
            client.screenshot().await.unwrap(),
        )
        .unwrap();
        client.goto(&app.url("/")).await.unwrap();
        client
            .wait()
            .for_element(Locator::Id("pipeline"))
            .await
            .unwrap();

        // Logged out, the browser gets the form and the figures are refused.
        client
            .find(Locator::Css(r#"form[action="/logout"] button"#))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .wait()
            .for_element(Locator::Css(r#"input[name="token"]"#))
            .await
            .unwrap();
        assert!(client.find(Locator::Id("pipeline")).await.is_err());
        let status = client
            .execute_async(
                "const done = arguments[0]; \
                 fetch('/v1/dashboard').then(r => done(r.status), e => done(String(e)));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(status, json!(401));
        let body = client.source().await.unwrap();
        assert!(!body.contains("SCOUTPI-0004"), "no data without a login");
    };
    // Close the browser whatever the outcome, then report it.
    let result = std::panic::AssertUnwindSafe(outcome).catch_unwind().await;
    let _ = client.close().await;
    drop(driver);
    app.finish().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

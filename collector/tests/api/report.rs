//! The weekly report on both backends: a seeded week and the week before, the report's figures
//! against hand-computed ones, the HTML file self-contained with hostile names escaped, and
//! `scout-collector report --week` through the real binary.

use std::process::Command;

use chrono::{NaiveDate, TimeDelta, Utc};
use scout_collector::dashboard::report;
use scout_collector::dashboard::week::{Kpi, KpiRow, Week};
use scout_collector::dashboard::{manila_date, weekly_report};
use scout_collector::gates::{self, GatesConfig};
use scout_collector::store::Arg;
use serde_json::{Value, json};

use crate::dashboard::HOSTILE_STORE;
use crate::helpers::{Backend, TestApp, TestDb, ndjson};
use crate::medallion::{process, sale};

crate::both_backends!(report_figures_equal_the_hand_computed_week);

/// A sale on `day` at 10:00 Asia/Manila by `device` for `store`.
fn sale_on(
    id: u32,
    day: NaiveDate,
    device: &str,
    store: &str,
    items: &[(&str, &str, f64, f64)],
) -> Value {
    let mut v = sale(
        &format!("dddddddd-0000-4000-8000-{id:012}"),
        &format!("{day}T02:00:00Z"),
        items,
        "cash",
    );
    v["deviceId"] = json!(device);
    v["storeId"] = json!(store);
    v
}

fn kpi(revenue_centavos: i64, transactions: i64, units: f64) -> Kpi {
    Kpi {
        revenue_centavos,
        transactions,
        units,
    }
}

fn row(key: &str, this_week: Kpi, previous_week: Kpi) -> KpiRow {
    KpiRow {
        key: key.to_owned(),
        this_week,
        previous_week,
    }
}

async fn report_figures_equal_the_hand_computed_week(backend: Backend) {
    let app = TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await;
    let as_of = manila_date(Utc::now());
    let week = Week::last_complete(as_of);
    let day = |n: i64| week.start + TimeDelta::days(n);
    let t105 = app.add_device("SCOUTPI-0005", "105").await;
    let hostile = app.add_device("SCOUTPI-0666", HOSTILE_STORE).await;

    let mut wednesday = sale_on(
        2,
        day(2),
        "SCOUTPI-0004",
        "104",
        &[("Coca-Cola", "Coke Mismo", 1.0, 15.0)],
    );
    // Quarantined (zero quantity): counted under quality, not in the KPIs.
    wednesday["items"].as_array_mut().unwrap().push(
        json!({"brandName": "Piattos", "productName": "Piattos", "quantity": 0, "unitPrice": 20, "totalPrice": 20}),
    );
    let store_104 = [
        sale_on(
            1,
            day(0),
            "SCOUTPI-0004",
            "104",
            &[
                ("Coca-Cola", "Coke Mismo", 2.0, 15.0),
                ("Tide", "Tide Bar", 1.0, 12.0),
            ],
        ),
        wednesday,
        // The week before, and three weeks before (in neither week).
        sale_on(
            3,
            day(-3),
            "SCOUTPI-0004",
            "104",
            &[("Coca-Cola", "Coke Mismo", 4.0, 15.0)],
        ),
        sale_on(
            4,
            day(-15),
            "SCOUTPI-0004",
            "104",
            &[("Tide", "Tide Bar", 10.0, 12.0)],
        ),
    ];
    let lines: Vec<String> = store_104.iter().map(Value::to_string).collect();
    app.ingest_ok(&app.token, ndjson(&lines)).await;
    let lucky = sale_on(
        5,
        day(1),
        "SCOUTPI-0005",
        "105",
        &[("Lucky Me", "Pancit Canton", 3.0, 14.0)],
    );
    app.ingest_ok(&t105, ndjson(&[lucky.to_string()])).await;
    let odd = sale_on(
        6,
        day(3),
        "SCOUTPI-0666",
        HOSTILE_STORE,
        &[("Safeguard", "Safeguard 60g", 1.0, 25.0)],
    );
    app.ingest_ok(&hostile, ndjson(&[odd.to_string()])).await;
    process(&app.store).await;

    // Two gate runs kept during the week, then a run now (the current status).
    let (from, _) = week.utc_bounds();
    for (run, hours, status) in [
        ("00000000-0000-4000-8000-000000000001", 12, "fail"),
        ("00000000-0000-4000-8000-000000000002", 36, "pass"),
    ] {
        app.store
            .execute(
                "INSERT INTO metadata.quality_gate_results \
                 (run_id, gate, status, value, threshold, details, created_at) \
                 VALUES ($1::uuid, 'freshness', $2, 10.0, 240.0, '{}'::jsonb, $3)",
                &[
                    Arg::from(run),
                    Arg::from(status),
                    Arg::from(from + TimeDelta::hours(hours)),
                ],
            )
            .await
            .unwrap();
    }
    gates::run_all(&app.store, &GatesConfig::default(), Utc::now())
        .await
        .unwrap();

    let r = weekly_report(&app.store, as_of, Utc::now()).await.unwrap();
    assert_eq!(r.week, week);
    assert_eq!(r.previous.start, week.start - TimeDelta::days(7));
    // Store 104: 42 + 15 pesos over 2 sales (4 units) against 60 over 1 (4 units).
    assert_eq!(
        r.stores,
        [
            row("104", kpi(5700, 2, 4.0), kpi(6000, 1, 4.0)),
            row("105", kpi(4200, 1, 3.0), kpi(0, 0, 0.0)),
            row(HOSTILE_STORE, kpi(2500, 1, 1.0), kpi(0, 0, 0.0)),
        ]
    );
    assert_eq!(r.total.this_week, kpi(12_400, 4, 8.0));
    assert_eq!(r.total.previous_week, kpi(6000, 1, 4.0));
    assert_eq!(r.total.this_week.avg_basket_centavos(), Some(3100));
    assert_eq!(r.stores[0].revenue_change(), Some(-0.05));
    assert_eq!(r.stores[1].revenue_change(), None);
    assert_eq!(
        r.brands,
        [
            row("Coca-Cola", kpi(4500, 2, 3.0), kpi(6000, 1, 4.0)),
            row("Lucky Me!", kpi(4200, 1, 3.0), kpi(0, 0, 0.0)),
            row("Safeguard", kpi(2500, 1, 1.0), kpi(0, 0, 0.0)),
            row("Tide", kpi(1200, 1, 1.0), kpi(0, 0, 0.0)),
        ]
    );
    // Quality: 5 items sold this week, all branded; the zero-quantity item quarantined.
    assert_eq!((r.quality.items, r.quality.branded_share), (5, Some(1.0)));
    assert_eq!(r.quality.quarantined, 1);
    assert_eq!(
        (r.previous_quality.items, r.previous_quality.quarantined),
        (1, 0)
    );
    let daily: Vec<i64> = r.days.iter().map(|d| d.revenue_centavos).collect();
    assert_eq!(daily, [4200, 4200, 1500, 2500, 0, 0, 0]);
    let before: Vec<i64> = r.previous_days.iter().map(|d| d.revenue_centavos).collect();
    assert_eq!(before, [0, 0, 0, 0, 6000, 0, 0]);
    // Gates: every gate of the run now; freshness also with the week's two runs.
    let freshness = r.gates.iter().find(|g| g.name == "freshness").unwrap();
    assert_eq!(freshness.runs, [1, 0, 1, 0]);
    assert!(freshness.current.is_some());
    assert!(r.gates.len() >= 7);
    assert_eq!(r.fleet.len(), 3);

    // The HTML: the figures as people read them, self-contained, hostile names escaped.
    let html = report::render(&r);
    for figure in [
        "₱124.00",
        "₱57.00",
        "₱28.50",
        "₱31.00",
        "Lucky Me!",
        "▼ 5.0%",
        "new",
    ] {
        assert!(html.contains(figure), "{figure}");
    }
    assert!(!html.contains(HOSTILE_STORE));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!html.contains("<script"), "the report needs no script");
    assert!(!html.contains("http"), "no external resource");
    assert!(html.contains("<svg"));

    // The command writes the same report and prints where.
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("week.html");
    let out = Command::new(env!("CARGO_BIN_EXE_scout-collector"))
        .args(["report", "--week", "--as-of", &as_of.to_string(), "--out"])
        .arg(&out_path)
        .env("DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&out_path.display().to_string()), "{stdout}");
    assert!(stdout.contains(&week.start.to_string()), "{stdout}");
    let written = std::fs::read_to_string(&out_path).unwrap();
    assert!(written.contains("₱124.00") && written.contains("Scout weekly report"));
    // Without --out: the default name in the working directory.
    let out = Command::new(env!("CARGO_BIN_EXE_scout-collector"))
        .args(["report", "--week", "--as-of", &as_of.to_string()])
        .env("DATABASE_URL", &app.db.url)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let default = dir
        .path()
        .join(format!("scout-weekly-report-{}.html", week.start));
    assert!(default.exists(), "{}", String::from_utf8_lossy(&out.stdout));
    app.finish().await;
}

//! PostgreSQL blinks while an agent drains: the real agent drains 50,000 transactions through
//! the real collector while the test, several times over, makes the collector's database refuse
//! connections and terminates the ones it has. A database fault is the collector's, never the
//! line's (the product contract, §2: a 503 with `Retry-After`, never a rejected line), so
//! afterwards the agent holds no dead letters and no backlog, and bronze holds every transaction
//! exactly once.
//!
//! A pass-through proxy between agent and collector counts the collector's answers (200, 503,
//! …) so the run's figures can be quoted; they are printed (`--nocapture` shows them). The
//! collector runs ingest only (`--process false`): the pipeline is not what is tested here, and
//! on two cores it would slow the drain.

mod postgres {
    use std::collections::{BTreeMap, HashSet};
    use std::time::{Duration, Instant};

    use scout_tests::agent::{AgentSetup, agent_command, start_agent, status};
    use scout_tests::bins::{Process, add_device, binary, start_collector};
    use scout_tests::pg::{ScratchDb, admin_url};
    use scout_tests::proxy::{FaultPlan, FaultProxy};
    use serde_json::Value;
    use sqlx::{Connection, Row};

    use crate::support::{client, id, transaction};

    /// Transactions in the agent's outbox when it starts.
    const TRANSACTIONS: usize = 50_000;
    /// Outages, each `OUTAGE` long, each begun once the agent has delivered `BETWEEN` more
    /// transactions since the database came back (so every one hits an active drain).
    const CYCLES: usize = 4;
    const OUTAGE: Duration = Duration::from_secs(3);
    const BETWEEN: u64 = 3_000;

    /// One outage as the test caused it.
    struct Outage {
        /// Backlog when it began.
        backlog: u64,
        /// Collector connections terminated.
        terminated: usize,
        lasted: Duration,
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nothing_is_lost_or_dead_lettered_while_postgresql_blinks() {
        let Some(admin) = admin_url().await else {
            return;
        };
        let db = ScratchDb::create(&admin, "scout_e2e_outage").await;
        let dir = tempfile::tempdir().unwrap();
        let collector_bin = binary("scout-collector");
        let token = add_device(&collector_bin, &db.url, "SCOUTPI-0004", "104");
        let collector = start_collector(
            &collector_bin,
            &db.url,
            dir.path(),
            "127.0.0.1:0",
            &["--process", "false"],
        );
        let proxy = FaultProxy::start(&collector.url(""), FaultPlan::pass()).await;
        let setup = AgentSetup::new(dir.path(), &proxy.url(), &token);
        let config = setup.write();

        // The backlog, taken in with `scout-agent enqueue` while the service is stopped
        // (NDJSON files of 5,000 lines: a file may not exceed 16 MiB).
        let ids: Vec<String> = (0..TRANSACTIONS).map(|n| id(0x0b11, n)).collect();
        let files = dir.path().join("backlog");
        std::fs::create_dir(&files).unwrap();
        for (n, chunk) in ids.chunks(5_000).enumerate() {
            let mut body = String::with_capacity(chunk.len() * 1600);
            for tx in chunk {
                body.push_str(&transaction(tx).to_string());
                body.push('\n');
            }
            std::fs::write(files.join(format!("{n:03}.ndjson")), body).unwrap();
        }
        let enqueue_started = Instant::now();
        let out = agent_command(&config, &["enqueue", files.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        let enqueue_time = enqueue_started.elapsed();
        assert_eq!(status(&config)["backlog"]["count"], TRANSACTIONS);

        let drain_started = Instant::now();
        let agent = start_agent(&setup);
        let client = client();
        let backlog = || {
            let client = client.clone();
            let url = agent.url("/status.json");
            async move {
                let s: Value = client.get(url).send().await.unwrap().json().await.unwrap();
                s["backlog"]["count"].as_u64().unwrap()
            }
        };

        let mut admin_conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        let mut outages: Vec<Outage> = Vec::new();
        let mut mark = TRANSACTIONS as u64;
        while outages.len() < CYCLES {
            // Wait for the drain to be under way again.
            let deadline = Instant::now() + Duration::from_secs(60);
            let left = loop {
                let left = backlog().await;
                if left == 0 || mark.saturating_sub(left) >= BETWEEN {
                    break left;
                }
                assert!(
                    Instant::now() < deadline,
                    "no progress for 60 s after outage {}: backlog {left}\n{}",
                    outages.len(),
                    tail(&collector)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            if left == 0 {
                break;
            }
            let began = Instant::now();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {} ALLOW_CONNECTIONS false",
                db.name
            )))
            .execute(&mut admin_conn)
            .await
            .unwrap();
            let terminated = sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&db.name)
            .fetch_all(&mut admin_conn)
            .await
            .unwrap()
            .len();
            // The outage itself: the database stays closed for this long.
            tokio::time::sleep(OUTAGE).await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {} ALLOW_CONNECTIONS true",
                db.name
            )))
            .execute(&mut admin_conn)
            .await
            .unwrap();
            outages.push(Outage {
                backlog: left,
                terminated,
                lasted: began.elapsed(),
            });
            mark = backlog().await;
        }
        let _ = admin_conn.close().await;

        // Drained: nothing pending (delivered or dead-lettered).
        let deadline = Instant::now() + Duration::from_secs(180);
        while backlog().await > 0 {
            assert!(
                Instant::now() < deadline,
                "not drained 180 s after the last outage: {:#}\n{}",
                status(&config),
                tail(&collector)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let drain_time = drain_started.elapsed();
        let metrics = client
            .get(agent.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        drop(agent);
        let final_status = status(&config);

        // The collector's answers to ingest requests, as the proxy saw them.
        let mut answers: BTreeMap<String, usize> = BTreeMap::new();
        for event in proxy.events() {
            if event.path.starts_with("/v1/ingest") {
                let key = event
                    .upstream_status
                    .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
                *answers.entry(key).or_default() += 1;
            }
        }
        drop(proxy);
        drop(collector);

        let (rows, distinct, stored) = bronze(&db.url).await;
        let dead = final_status["dead_letters"].as_u64().unwrap();
        eprintln!(
            "postgres outage: {TRANSACTIONS} transactions (enqueued in {enqueue_time:.1?}); \
             {} outages of {OUTAGE:?}; drained in {drain_time:.1?}",
            outages.len()
        );
        for (n, o) in outages.iter().enumerate() {
            eprintln!(
                "  outage {}: backlog {} at the start, {} collector connections terminated, \
                 database closed {:.1?}",
                n + 1,
                o.backlog,
                o.terminated,
                o.lasted
            );
        }
        eprintln!("  collector answers to /v1/ingest: {answers:?}");
        eprintln!(
            "  agent: {} upload attempts, {} failed; {} delivered; {dead} dead letters; \
             backlog {}",
            metric(&metrics, "scout_agent_upload_attempts_total"),
            metric(&metrics, "scout_agent_upload_failures_total"),
            metric(&metrics, "scout_agent_uploaded_total"),
            final_status["backlog"]["count"]
        );
        eprintln!("  bronze: {rows} rows, {distinct} distinct transaction ids");

        assert!(
            outages.len() >= 3,
            "the drain ended before the outages did: only {} outages",
            outages.len()
        );
        assert!(
            dead == 0,
            "{dead} of {TRANSACTIONS} transactions were dead-lettered while PostgreSQL was \
             unavailable: a database fault must be a 503 with Retry-After, never a rejected line. \
             The collector answered {answers:?}.\n{}",
            dead_letter_reasons(&config, dir.path(), &db.name)
        );
        assert_eq!(final_status["backlog"]["count"], 0, "{final_status:#}");
        assert_eq!(rows, distinct, "a transaction landed twice in bronze");
        let expected: HashSet<String> = ids.into_iter().collect();
        let missing = expected.difference(&stored).count();
        let extra = stored.difference(&expected).count();
        assert!(
            missing == 0 && extra == 0 && rows == TRANSACTIONS,
            "bronze holds {rows} rows: {missing} enqueued transactions missing, {extra} unknown"
        );
        db.drop_now().await;
    }

    /// Bronze's row count, distinct ids, and the ids.
    async fn bronze(url: &str) -> (usize, usize, HashSet<String>) {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let rows = sqlx::query("SELECT transaction_id::text FROM bronze.scout_raw_transactions")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        let ids: HashSet<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        (rows.len(), ids.len(), ids)
    }

    /// One counter from the agent's `/metrics` text.
    fn metric(text: &str, name: &str) -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or("?")
            .to_owned()
    }

    /// The dead letters' reasons, tallied, and the first few as `scout-agent dead-letters`
    /// lists them.
    fn dead_letter_reasons(config: &std::path::Path, dir: &std::path::Path, db: &str) -> String {
        let export = dir.join("dead-letters.ndjson");
        let out = agent_command(
            config,
            &["dead-letters", "--export", export.to_str().unwrap()],
        );
        assert!(out.status.success(), "{out:?}");
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for line in std::fs::read_to_string(&export).unwrap().lines() {
            let letter: Value = serde_json::from_str(line).unwrap();
            // Tallied without the database's name and the line number.
            let reason = letter["reason"].as_str().unwrap_or("?").replace(db, "<db>");
            let reason = reason.rsplit_once(" at line ").map_or(&*reason, |(r, _)| r);
            *reasons
                .entry(reason.chars().take(240).collect())
                .or_default() += 1;
        }
        let mut text = String::from("dead letters by reason:\n");
        for (reason, n) in &reasons {
            text.push_str(&format!("  {n:>6}  {reason}\n"));
        }
        let listed = agent_command(config, &["dead-letters", "--limit", "5"]);
        text.push_str("first listed by `scout-agent dead-letters`:\n");
        text.push_str(&String::from_utf8_lossy(&listed.stdout));
        text
    }

    /// The end of the collector's log.
    fn tail(collector: &Process) -> String {
        let text = std::fs::read_to_string(&collector.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(20);
        format!("collector log (last lines):\n{}", lines[from..].join("\n"))
    }
}

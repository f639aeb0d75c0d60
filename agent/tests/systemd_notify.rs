//! `scout-agent run` under a stand-in for systemd: a real unix datagram socket as
//! `NOTIFY_SOCKET` and a short `WATCHDOG_USEC`. The agent must send `READY=1` only once it
//! listens with its outbox open, then `WATCHDOG=1` at half the interval, and `STOPPING=1` on
//! SIGTERM before it exits cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports failure

#[path = "support/offline.rs"]
mod offline;

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_scout-agent");

/// Kills and reaps the agent if the test fails half-way.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The next datagram, split into its `KEY=VALUE` lines.
fn receive(socket: &UnixDatagram) -> Vec<String> {
    let mut buffer = [0_u8; 4096];
    let n = socket
        .recv(&mut buffer)
        .expect("no notification within the timeout");
    String::from_utf8_lossy(&buffer[..n])
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn ready_watchdog_and_stopping_reach_the_notify_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let log = dir.path().join("agent.log");
    let mut agent = Agent(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(offline::write_config(dir.path()))
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "400000") // 400 ms: a ping every 200 ms
            .env("SCOUT_AGENT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );

    // READY=1 comes first, with a status line, and only once the agent listens.
    let ready = receive(&socket);
    assert!(ready.contains(&"READY=1".to_owned()), "{ready:?}");
    assert!(
        ready
            .iter()
            .any(|l| l.starts_with("STATUS=listening on 127.0.0.1:")),
        "{ready:?}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("outbox open"),
        "READY=1 before the outbox opened:\n{text}"
    );
    assert!(
        text.contains("listening address="),
        "READY=1 before listening:\n{text}"
    );
    assert!(dir.path().join("outbox.db").exists());

    // Then the watchdog: at half the interval, so about 5 pings in a second.
    let started = Instant::now();
    let mut pings = 0;
    while pings < 5 {
        let message = receive(&socket);
        assert_eq!(message, ["WATCHDOG=1"], "unexpected notification");
        pings += 1;
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "5 pings took {took:?} with a 400 ms watchdog"
    );

    // SIGTERM: STOPPING=1, then a clean exit.
    let pid = agent.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    loop {
        let message = receive(&socket);
        if message == ["WATCHDOG=1"] {
            continue; // a ping already on its way
        }
        assert_eq!(message, ["STOPPING=1"]);
        break;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = agent.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("stopped cleanly")
    );
}

//! `scout-collector demo` end to end: real agents trade through their intake, everything they
//! accepted lands in bronze, and the day's gold KPIs are printed.

use std::process::Command;

#[test]
fn demo_trades_and_prints_the_days_kpis() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_scout-collector"))
        .args([
            "demo",
            "--stores",
            "2",
            "--seconds",
            "3",
            "--rate",
            "10",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // "N transactions accepted by the agents (R refused at intake), B landed in bronze"
    let line = stdout
        .lines()
        .find(|l| l.contains("accepted by the agents"))
        .unwrap_or_else(|| panic!("no summary in\n{stdout}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let (accepted, bronze) = (numbers[0], numbers[2]);
    assert!(accepted >= 20, "{line}");
    assert_eq!(
        accepted, bronze,
        "every accepted transaction landed: {line}"
    );
    assert!(stdout.contains("Gold KPIs for"), "{stdout}");
    assert!(
        stdout.contains("Store 201,") && stdout.contains("Store 202,"),
        "{stdout}"
    );
    assert!(dir.path().join("collector.db").exists());
    assert!(dir.path().join("scoutpi-9001/outbox.db").exists());
}

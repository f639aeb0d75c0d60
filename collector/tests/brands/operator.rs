//! The operator's extension file (`--dictionary PATH` / `SCOUT_BRANDS_FILE`) and the
//! `scout-collector brand` command, through the library and through the real binary.

use std::process::Command;

use scout_collector::brands::{BrandMatcher, Category, DictionaryError, Method};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_scout-collector");

const EXTENSION: &str = r#"
# A regional brand, a new spoken form for a shipped one, and a context word.
[[brand]]
name = "Sari Cola"
category = "Beverages"
company = "Sari Beverages Inc."
aliases = ["sarikola", "sari kola"]

[[brand]]
name = "Tide"
aliases = ["taydo"]

[context]
load = ["eloadan"]
"#;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn extension_adds_brands_and_aliases_without_rebuilding() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "extra.toml", EXTENSION);
    let shipped = BrandMatcher::shipped().unwrap();
    assert!(shipped.detect("sarikola 1L").is_none());

    let m = BrandMatcher::load(Some(&path)).unwrap();
    assert_eq!(m.stats().brands, shipped.stats().brands + 1);
    let d = m.detect("sari kola 1L").unwrap();
    assert_eq!(d.brand.name, "Sari Cola");
    assert_eq!(d.brand.category, Category::Beverages);
    assert_eq!(d.brand.company, "Sari Beverages Inc.");
    assert_eq!(d.method, Method::Alias);
    let d = m.detect("taydo po isa").unwrap();
    assert_eq!((d.brand.name.as_str(), d.method), ("Tide", Method::Alias));
    // Shipped forms still work, and the context group grew.
    assert_eq!(m.detect("tayd").unwrap().brand.name, "Tide");
    assert_eq!(m.detect("eloadan mo ng smart").unwrap().brand.name, "Smart");
}

#[test]
fn bad_extension_file_names_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "bad.toml",
        "[[brand]]\nname = \"Sari Cola\"\ncategory = \"Softdrinks\"\ncompany = \"X\"\n",
    );
    let err = BrandMatcher::load(Some(&path)).unwrap_err();
    assert!(
        matches!(err, DictionaryError::Invalid { line: 3, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("bad.toml, line 3"), "{msg}");
    assert!(msg.contains("field category"), "{msg}");

    let missing = BrandMatcher::load(Some(&dir.path().join("nope.toml"))).unwrap_err();
    assert!(
        matches!(missing, DictionaryError::Read { .. }),
        "{missing:?}"
    );
}

fn brand_command(args: &[&str], env: Option<&str>) -> (bool, Value, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("brand").args(args);
    // Must not touch a database: point DATABASE_URL somewhere that cannot exist.
    cmd.env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none");
    cmd.env_remove("SCOUT_BRANDS_FILE");
    if let Some(path) = env {
        cmd.env("SCOUT_BRANDS_FILE", path);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (out.status.success(), json, stderr)
}

#[test]
fn brand_command_prints_json_without_a_database() {
    let (ok, v, err) = brand_command(&["koka 1.5L"], None);
    assert!(ok, "{err}");
    assert_eq!(v["input"], "koka 1.5L");
    assert_eq!(v["brand"], "Coca-Cola");
    assert_eq!(v["category"], "Beverages");
    assert_eq!(v["company"], "Coca-Cola Beverages Philippines");
    assert_eq!(v["method"], "alias");
    assert_eq!(v["score"], 0.95);

    let (ok, v, _) = brand_command(&["pabili", "po"], None);
    assert!(ok);
    assert_eq!(v["input"], "pabili po");
    assert_eq!(v["brand"], Value::Null);
    assert_eq!(v["method"], "unknown");
    assert_eq!(v["score"], 0.0);

    let (ok, v, _) = brand_command(&["isang coke tsaka dalawang lucky me"], None);
    assert!(ok);
    let mentions: Vec<_> = v["mentions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["brand"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(mentions, ["Coca-Cola", "Lucky Me!"]);
}

#[test]
fn brand_command_takes_the_operator_file_by_flag_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "extra.toml", EXTENSION);
    let path = path.to_str().unwrap();

    let (ok, v, err) = brand_command(&["--dictionary", path, "sarikola"], None);
    assert!(ok, "{err}");
    assert_eq!(v["brand"], "Sari Cola");

    let (ok, v, err) = brand_command(&["sarikola"], Some(path));
    assert!(ok, "{err}");
    assert_eq!(v["brand"], "Sari Cola");

    let bad = write(&dir, "bad.toml", "[[brand]]\nname = \"X\"\naliasses = []\n");
    let (ok, _, err) = brand_command(&["--dictionary", bad.to_str().unwrap(), "x"], None);
    assert!(!ok);
    assert!(err.contains("bad.toml") && err.contains("line 3"), "{err}");
}

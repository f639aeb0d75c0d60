-- One row per gate per run of the quality gates (`scout-collector gates`), kept for trends.
CREATE TABLE IF NOT EXISTS metadata_quality_gate_results (
    id         INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL,
    gate       TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('pass', 'warn', 'fail', 'no_data')),
    value      REAL,
    threshold  REAL NOT NULL,
    details    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metadata_quality_gate_results_gate
    ON metadata_quality_gate_results (gate, created_at);

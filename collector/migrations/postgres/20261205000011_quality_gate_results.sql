-- One row per gate per run of the quality gates (`scout-collector gates`), kept for trends.
CREATE TABLE IF NOT EXISTS metadata.quality_gate_results (
    id         bigserial PRIMARY KEY,
    run_id     uuid NOT NULL,
    gate       text NOT NULL,
    status     text NOT NULL CHECK (status IN ('pass', 'warn', 'fail', 'no_data')),
    value      double precision,
    threshold  double precision NOT NULL,
    details    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS quality_gate_results_gate
    ON metadata.quality_gate_results (gate, created_at);

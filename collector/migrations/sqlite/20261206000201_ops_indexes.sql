-- The gates, doctor and the freshness gauges look at silver and gold by load time.
CREATE INDEX IF NOT EXISTS silver_transactions_cleaned_loaded_at
    ON silver_transactions_cleaned (loaded_at);
CREATE INDEX IF NOT EXISTS scout_scout_gold_transactions_created_at
    ON scout_scout_gold_transactions (created_at);
CREATE INDEX IF NOT EXISTS silver_transactions_quarantine_quarantined_at
    ON silver_transactions_quarantine (quarantined_at);

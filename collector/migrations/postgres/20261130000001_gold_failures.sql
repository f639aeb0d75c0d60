-- Gold partitions set aside: a (business day, store) partition whose rebuild the database refused
-- even in a batch of its own is taken off metadata.gold_pending (so it cannot hold up the others)
-- and recorded here for an operator, with the database's message. Its gold rows stay as they were
-- last built. Queueing it again (new silver rows, `process --rebuild-gold`) retries it; a rebuild
-- that succeeds deletes its row here.
CREATE TABLE IF NOT EXISTS metadata.gold_failures (
    transaction_date date NOT NULL,
    store_id         text NOT NULL,
    error            text NOT NULL,
    failed_at        timestamptz NOT NULL,
    PRIMARY KEY (transaction_date, store_id)
);

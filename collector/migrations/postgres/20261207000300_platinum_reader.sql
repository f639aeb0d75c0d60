-- The role platinum's generated queries run as: inside their read-only transaction the reader
-- switches to it (`SET LOCAL ROLE scout_reader`), so even a statement that got past the
-- generator could read the catalogue's three tables and nothing else, and write nothing.
-- Roles belong to the whole server: the role is made once and given its grants in every
-- database that uses it. Where the collector's user may not create roles or grant membership
-- (a managed database), a notice says so and platinum runs in read-only transactions alone;
-- `scout-collector doctor` shows which one a collector uses.
DO $$
BEGIN
    BEGIN
        CREATE ROLE scout_reader NOLOGIN;
    EXCEPTION
        WHEN duplicate_object OR unique_violation THEN NULL;
        WHEN insufficient_privilege THEN
            RAISE NOTICE 'role scout_reader not created (%); platinum relies on read-only transactions alone', SQLERRM;
            RETURN;
    END;
    GRANT USAGE ON SCHEMA silver, scout, gold TO scout_reader;
    GRANT SELECT ON silver.transactions_cleaned, scout.scout_gold_transactions,
        gold.customer_analytics TO scout_reader;
    BEGIN
        EXECUTE format('GRANT scout_reader TO %I', current_user);
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'membership of scout_reader not granted to % (%); platinum relies on read-only transactions alone', current_user, SQLERRM;
    END;
END
$$;

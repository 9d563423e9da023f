-- 0060: the Bulk API 2.0 ingest jobs the worker created (the bulk load strategy,
-- migration_app.worker.bulk_load), recorded before their data is uploaded, so an attempt killed
-- mid-job leaves its job findable: the next attempt of any of its customers aborts it if it is
-- still running and waits for it to end before loading (migration_app.audit.bulk_jobs).
CREATE TABLE migration_bulk_job (
    job_id          text        PRIMARY KEY,  -- Salesforce's job id (750...)
    object          text        NOT NULL,     -- V2 object
    operation       text        NOT NULL,     -- insert | upsert
    customer_ids    text[]      NOT NULL,     -- the customers whose records it holds
    correlation_ids text[]      NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    settled_at      timestamptz,              -- its results taken (or it was abandoned)
    outcome         text                      -- its last state, or how it was settled
);

CREATE INDEX migration_bulk_job_unsettled_idx
    ON migration_bulk_job USING gin (customer_ids) WHERE settled_at IS NULL;

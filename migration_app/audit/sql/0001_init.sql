-- 0001: audit of migration attempts. One migration_run row per (customer, attempt), its
-- data-quality findings in migration_issue. Applied once by migration_app.audit under an
-- advisory lock; never edit an applied file, add 0002_*.sql instead.

CREATE TABLE migration_run (
    id             bigserial PRIMARY KEY,
    customer_id    text        NOT NULL,
    attempt        integer     NOT NULL CHECK (attempt >= 0),
    status         text        NOT NULL CHECK (status IN ('COMPLETED', 'FAILED', 'DRY_RUN')),
    correlation_id text,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL,
    worker         text,
    counts         jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- {object: {created: n, updated: n}}
    rejected       jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- {object: n} records not loaded
    error          text,
    recorded_at    timestamptz NOT NULL DEFAULT now(),        -- last write (retries overwrite)
    -- Idempotency key of record_runs; its index also serves lookups by customer_id.
    CONSTRAINT migration_run_customer_attempt_key UNIQUE (customer_id, attempt)
);

-- recent_failures / status dashboards: newest runs of one status first.
CREATE INDEX migration_run_status_finished_idx ON migration_run (status, finished_at DESC);

CREATE TABLE migration_issue (
    id        bigserial PRIMARY KEY,
    run_id    bigint  NOT NULL REFERENCES migration_run (id) ON DELETE CASCADE,
    severity  text    NOT NULL CHECK (severity IN ('warning', 'error')),
    object    text    NOT NULL,
    legacy_id text,
    field     text,
    code      text    NOT NULL,
    message   text    NOT NULL
);

-- Issues of a run (joins, ON DELETE CASCADE, replacing issues on retry).
CREATE INDEX migration_issue_run_idx ON migration_issue (run_id, severity);

-- 0002: the record ledger (V1 id -> V2 id, per run), verification verdicts, and the
-- ROLLED_BACK run status. Applied once by migration_app.audit under its advisory lock.

ALTER TABLE migration_run DROP CONSTRAINT migration_run_status_check;
ALTER TABLE migration_run ADD CONSTRAINT migration_run_status_check
    CHECK (status IN ('COMPLETED', 'FAILED', 'DRY_RUN', 'ROLLED_BACK'));

-- One row per V2 record a run wrote (created or updated) or a rollback deleted; written in the
-- same statement as the run's row, so a run and its ledger commit together.
CREATE TABLE migration_record (
    id          bigserial PRIMARY KEY,
    run_id      bigint      NOT NULL REFERENCES migration_run (id) ON DELETE CASCADE,
    customer_id text        NOT NULL,
    object      text        NOT NULL,   -- V2 object
    legacy_id   text        NOT NULL,   -- V1 record Id (Legacy_Id__c in V2)
    v2_id       text        NOT NULL,
    action      text        NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX migration_record_customer_idx ON migration_record (customer_id, id);
CREATE INDEX migration_record_v2_idx ON migration_record (v2_id);
CREATE INDEX migration_record_run_idx ON migration_record (run_id);

-- Verdicts of `migration-app verify` (and the worker's sampled verification).
CREATE TABLE migration_verification (
    id          bigserial PRIMARY KEY,
    customer_id text        NOT NULL,
    verdict     text        NOT NULL CHECK (verdict IN ('MATCH', 'DRIFT', 'MISSING', 'UNEXPECTED')),
    details     jsonb       NOT NULL DEFAULT '[]'::jsonb,
    source      text        NOT NULL DEFAULT 'cli',
    verified_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX migration_verification_customer_idx
    ON migration_verification (customer_id, verified_at DESC);

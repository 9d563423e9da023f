-- 0040: references to another customer's record that could not be written yet
-- (Account.ParentId: a site migrated before its parent business). One row per (record,
-- relationship); resolved_at is set once the worker has written it into V2 after the parent's
-- customer completed (migration_app.audit.pending_references, migration_app.worker.hierarchy).
CREATE TABLE migration_pending_reference (
    object                   text        NOT NULL,  -- V2 object of the record holding the lookup
    legacy_id                text        NOT NULL,  -- its V1 Id (its external id value in V2)
    relationship             text        NOT NULL,  -- the V2 relationship to set (Parent)
    customer_id              text        NOT NULL,  -- the customer the record belongs to
    external_id_field        text        NOT NULL,
    field                    text        NOT NULL,  -- the V1 lookup field (ParentId)
    parent_object            text        NOT NULL,  -- V2 object of the parent
    parent_legacy_id         text        NOT NULL,  -- the parent's V1 Id
    parent_external_id_field text        NOT NULL,
    recorded_at              timestamptz NOT NULL DEFAULT now(),
    resolved_at              timestamptz,
    attempts                 integer     NOT NULL DEFAULT 0,  -- fills tried
    last_error               text,                            -- the last fill's error
    PRIMARY KEY (object, legacy_id, relationship)
);

CREATE INDEX migration_pending_reference_parent_idx
    ON migration_pending_reference (left(parent_legacy_id, 15)) WHERE resolved_at IS NULL;
-- the fills that failed, retried on later batches (RESOLVABLE's other arm)
CREATE INDEX migration_pending_reference_retry_idx
    ON migration_pending_reference (recorded_at) WHERE resolved_at IS NULL AND attempts > 0;
CREATE INDEX migration_pending_reference_customer_idx
    ON migration_pending_reference (customer_id);
-- "is this parent migrated?": the ledger by object and V1 Id (15 or 18 characters)
CREATE INDEX migration_record_legacy_idx ON migration_record (object, left(legacy_id, 15));

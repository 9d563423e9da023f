-- 0010: what the operator console needs. Numbered 0010 so files other branches add (0002...) keep
-- their numbers; the runner applies any version it has not applied, in order.

-- The console's log of operator actions: who (the token's name), when, what, and the outcome.
CREATE TABLE console_action (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    action      text        NOT NULL,
    customer_id text        NOT NULL,
    outcome     text        NOT NULL,
    detail      text
);
CREATE INDEX console_action_customer_idx ON console_action (customer_id, at DESC);

-- One row per worker, refreshed every few seconds: its consumer lag by partition, its table's
-- counts by status, each org's API allocation. Partitions are owned by one worker at a time, so
-- the fresh rows together describe the whole cluster (the console's overview reads them).
CREATE TABLE console_worker (
    worker     text        PRIMARY KEY,
    url        text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    lag        jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- {"topic:partition": n}
    by_status  jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- {status: n} of the owned partitions
    api        jsonb       NOT NULL DEFAULT '{}'::jsonb   -- {org: {used, max}}
);

-- Throughput over the last hour.
CREATE INDEX migration_run_finished_idx ON migration_run (finished_at);
-- Customers list: filter by issue code (and object).
CREATE INDEX migration_issue_code_idx ON migration_issue (code, object, run_id);
CREATE INDEX migration_issue_object_idx ON migration_issue (object, run_id);

-- 0050: one concurrency budget per Salesforce org across all workers (salesforce/budget.py).
-- A row per slot (0 .. limit-1) a worker holds; expires_at passed = free again, so a killed
-- worker's slots come back on their own.
CREATE TABLE org_concurrency_slot (
    org        text        NOT NULL,
    slot       integer     NOT NULL,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (org, slot)
);

-- A row per live worker and org: what it wants (the fair split's input) and what it holds and
-- uses (the console's "in use / limit"), refreshed about every second.
CREATE TABLE org_concurrency_member (
    org        text        NOT NULL,
    holder     text        NOT NULL,
    wants      integer     NOT NULL,
    in_use     integer     NOT NULL,
    held       integer     NOT NULL,
    budget     integer     NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (org, holder)
);

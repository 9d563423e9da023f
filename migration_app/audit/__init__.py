"""The audit database (PostgreSQL, aiopg). All SQL of the product lives in this package.

- ``settings``: ``AuditSettings``, the pool's DSN, size and timeouts.
- ``records``: what is recorded, ``RunRecord`` (one customer attempt) with its issues and its
  ``LedgerEntry`` rows (the V2 records a run wrote or a rollback deleted).
- ``schema_changes``: the packaged ``sql/NNNN_*.sql`` files (``SchemaChange``) and the runner
  that applies the missing ones at start.
- ``queries``: the SQL text of the store.
- ``store``: ``AuditStore``, the repository over one aiopg pool (writes, reads, ledger, verdicts).
- ``ledger_export``: the ledger as CSV, page by page (`migration-app idmap`).
- ``console_queries``: the console's SQL (overview, customer lists, action log, heartbeats).
- ``resync_queries``: `migration-app resync`'s baselines, action log and deleted ledger rows.
- ``pending_references``: lookups to another customer's record, written once it is migrated.
- ``bulk_jobs``: the bulk strategy's journal of Bulk API 2.0 jobs (found again after a kill).
- ``concurrency_leases``: the leases of the org concurrency budget (``salesforce.budget``).
- ``errors``: ``AuditError`` and the transient ``AuditUnavailable``.
"""

"""Delta re-sync for the cutover window: ``plan`` (pure: the change queries, which customers
changed in V1 after their last COMPLETED migration, what a V1 deletion does to V2),
``execution`` (reads V1, the audit and V2; deletes by policy), ``command``
(``migration-app resync``: enqueues the changed customers as re-migrations)."""

"""The worker's hot path, in the order a batch flows:

- ``kafka_consumer``: Faust's aiokafka transport, fixed so restarts and rebalances skip no event
- ``agents``: the migrate agent, a loop over batches
- ``in_flight``: batches in flight (``MIGRATION_PIPELINE_DEPTH``): ordered claims, late acks
- ``processor``: one batch: decode/DLQ, dedupe, state, migrate, audit, result events
- ``pipeline``: extract -> transform -> load for a batch (graph and collections strategies);
  ``bulk_load``: the bulk strategy (Bulk API 2.0 jobs, per customer all or nothing by
  compensation); ``conflict_guard``: creates met by ``DUPLICATE_VALUE`` re-read and decided
- ``files``, ``file_budget``: a batch's files copied V1 -> V2 after its records, streamed, under
  a byte budget
- ``hierarchy``: references across customers (pending until the parent's customer completes)
- ``migration_state``, ``state_counts``, ``state_counts_keeper``: the per-customer table record
  and its counts, kept incrementally per partition
- ``runtime``: the long-lived clients, started and stopped with the app
- ``reference_cache``: V2 users and record types, read at start and on a timer
- ``publisher``: publish CustomerReadyForMigration events (``enqueue``, ``dev``, the console)
- ``fault_points``: ``MIGRATION_FAULT_KILL_AT``, a test kills the worker at a named point
"""

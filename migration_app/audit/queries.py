"""The SQL text of the audit repository (``AuditStore``): the batch write of runs, issues and
ledger rows, and the reads of runs, the ledger and verdicts. The console's SQL is in
``console_queries``; the schema-change runner's own in ``schema_changes``."""

# One statement: upsert the runs, drop the issues those runs had, insert the new issues. All CTEs
# see the same snapshot, so the DELETE only removes issues that existed before this statement.
RECORD_RUNS = """
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(runs)s::jsonb) AS r(
        customer_id text, attempt integer, status text, correlation_id text,
        started_at timestamptz, finished_at timestamptz, worker text,
        counts jsonb, rejected jsonb, error text, issues jsonb, records jsonb)
), upserted AS (
    INSERT INTO migration_run AS m (customer_id, attempt, status, correlation_id, started_at,
                                    finished_at, worker, counts, rejected, error)
    SELECT customer_id, attempt, status, correlation_id, started_at, finished_at, worker,
           coalesce(counts, '{}'::jsonb), coalesce(rejected, '{}'::jsonb), error
    FROM input
    ON CONFLICT (customer_id, attempt) DO UPDATE SET
        status = EXCLUDED.status, correlation_id = EXCLUDED.correlation_id,
        started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
        worker = EXCLUDED.worker, counts = EXCLUDED.counts, rejected = EXCLUDED.rejected,
        error = EXCLUDED.error, recorded_at = now()
    RETURNING m.id, m.customer_id, m.attempt
), dropped AS (
    DELETE FROM migration_issue i USING upserted u WHERE i.run_id = u.id
), dropped_records AS (
    DELETE FROM migration_record l USING upserted u WHERE l.run_id = u.id
), ledger AS (
    INSERT INTO migration_record (run_id, customer_id, object, legacy_id, v2_id, action)
    SELECT u.id, u.customer_id, x.item ->> 'object', x.item ->> 'legacy_id',
           x.item ->> 'v2_id', x.item ->> 'action'
    FROM upserted u
    JOIN input r ON r.customer_id = u.customer_id AND r.attempt = u.attempt
    CROSS JOIN LATERAL jsonb_array_elements(coalesce(r.records, '[]'::jsonb))
        WITH ORDINALITY AS x(item, n)
    ORDER BY u.id, x.n
)
INSERT INTO migration_issue (run_id, severity, object, legacy_id, field, code, message)
SELECT u.id, x.item ->> 'severity', x.item ->> 'object', x.item ->> 'legacy_id',
       x.item ->> 'field', x.item ->> 'code', x.item ->> 'message'
FROM upserted u
JOIN input r ON r.customer_id = u.customer_id AND r.attempt = u.attempt
CROSS JOIN LATERAL jsonb_array_elements(coalesce(r.issues, '[]'::jsonb))
    WITH ORDINALITY AS x(item, n)
ORDER BY u.id, x.n
"""

LEDGER_FOR = """
SELECT l.id, l.customer_id, r.attempt, r.status AS run_status, l.object, l.legacy_id, l.v2_id,
       l.action, l.recorded_at
FROM migration_record l JOIN migration_run r ON r.id = l.run_id
WHERE l.customer_id = ANY(%(customer_ids)s)
ORDER BY l.id
"""

IDMAP_PAGE = """
SELECT l.id, l.customer_id, l.object, l.legacy_id, l.v2_id, l.action, l.recorded_at
FROM migration_record l
WHERE l.id > %(after)s AND (%(object)s::text IS NULL OR l.object = %(object)s)
ORDER BY l.id
LIMIT %(limit)s
"""

RECORD_VERIFICATIONS = """
INSERT INTO migration_verification (customer_id, verdict, details, source)
SELECT customer_id, verdict, coalesce(details, '[]'::jsonb), coalesce(source, 'cli')
FROM jsonb_to_recordset(%(rows)s::jsonb)
    AS v(customer_id text, verdict text, details jsonb, source text)
"""

LATEST_VERIFICATION = """
SELECT customer_id, verdict, details, source, verified_at FROM migration_verification
WHERE customer_id = %(customer_id)s ORDER BY verified_at DESC, id DESC LIMIT 1
"""

COMPLETED_CUSTOMERS = """
SELECT customer_id FROM (
    SELECT DISTINCT ON (customer_id) customer_id, status, finished_at
    FROM migration_run ORDER BY customer_id, attempt DESC
) latest
WHERE status = 'COMPLETED' AND (%(since)s::timestamptz IS NULL OR finished_at >= %(since)s)
ORDER BY customer_id
"""

RUN_COLUMNS = """r.id, r.customer_id, r.attempt, r.status, r.correlation_id, r.started_at,
    r.finished_at, r.worker, r.counts, r.rejected, r.error, r.recorded_at"""

ISSUES_OF_RUN = """coalesce((
    SELECT jsonb_agg(jsonb_build_object(
        'severity', i.severity, 'object', i.object, 'legacy_id', i.legacy_id,
        'field', i.field, 'code', i.code, 'message', i.message) ORDER BY i.id)
    FROM migration_issue i WHERE i.run_id = r.id), '[]'::jsonb)"""

ISSUE_COUNTS_OF_RUN = """(
    SELECT jsonb_build_object(
        'warning', count(*) FILTER (WHERE i.severity = 'warning'),
        'error', count(*) FILTER (WHERE i.severity = 'error'))
    FROM migration_issue i WHERE i.run_id = r.id)"""

LAST_RUN = f"""
SELECT {RUN_COLUMNS}, {ISSUES_OF_RUN} AS issues
FROM migration_run r WHERE r.customer_id = %(customer_id)s
ORDER BY r.attempt DESC LIMIT 1"""

RUNS_FOR = f"""
SELECT {RUN_COLUMNS}, {ISSUE_COUNTS_OF_RUN} AS issue_counts, {{issues}}
FROM migration_run r WHERE r.customer_id = %(customer_id)s
ORDER BY r.attempt"""

LATEST_STATUS_COUNTS = """
SELECT status, count(*) FROM (
    SELECT DISTINCT ON (customer_id) status FROM migration_run
    ORDER BY customer_id, attempt DESC) latest
GROUP BY status"""

RUN_STATUS_COUNTS = "SELECT status, count(*) FROM migration_run GROUP BY status"

RECENT_FAILURES = """
SELECT r.customer_id, r.attempt, r.finished_at, r.error, coalesce((
    SELECT jsonb_agg(jsonb_build_object(
        'object', e.object, 'legacy_id', e.legacy_id, 'field', e.field,
        'code', e.code, 'message', e.message) ORDER BY e.id)
    FROM (SELECT * FROM migration_issue i
          WHERE i.run_id = r.id AND i.severity = 'error' ORDER BY i.id LIMIT %(errors)s) e
    ), '[]'::jsonb) AS errors
FROM migration_run r WHERE r.status = 'FAILED'
ORDER BY r.finished_at DESC, r.id DESC LIMIT %(limit)s"""

ISSUE_COUNTS = """
SELECT latest.customer_id, i.severity, count(i.id)
FROM (SELECT DISTINCT ON (customer_id) id, customer_id FROM migration_run
      WHERE customer_id = ANY(%(customer_ids)s) ORDER BY customer_id, attempt DESC) latest
LEFT JOIN migration_issue i ON i.run_id = latest.id
GROUP BY latest.customer_id, i.severity"""

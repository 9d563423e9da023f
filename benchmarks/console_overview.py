"""Overview cost at 100,000 customers: seeds a scratch database and times the overview queries.

    python -m benchmarks.console_overview [--customers 100000] [--dsn postgresql://...]

Without --dsn it uses MIGRATION_DATABASE_URL; it creates and drops its own schema there
(``bench_console``), so real audit rows are never touched. Prints the median and p95 of
``console.queries.overview`` (uncached: the view also caches for 2 s) and one customers page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import psycopg2

from migration_app.audit import console_queries as queries
from migration_app.audit.store import AuditSettings, AuditStore
from migration_app.web.console.assets import templates
from migration_app.web.console.auth import Principal, Role
from migration_app.web.console.overview_cache import DEPENDENCIES

SCHEMA = "bench_console"

SEED = """
INSERT INTO migration_run (customer_id, attempt, status, started_at, finished_at, worker)
SELECT 'C' || lpad(g::text, 8, '0'), 1,
       CASE WHEN g %% 20 = 0 THEN 'FAILED' WHEN g %% 50 = 1 THEN 'DRY_RUN' ELSE 'COMPLETED' END,
       now() - (g %% 3600) * interval '1 second' - interval '1 second',
       now() - (g %% 3600) * interval '1 second', 'bench'
FROM generate_series(1, %(n)s) g;
INSERT INTO migration_run (customer_id, attempt, status, started_at, finished_at, worker)
SELECT customer_id, 2, 'COMPLETED', now(), now(), 'bench' FROM migration_run
WHERE status = 'FAILED' AND customer_id LIKE '%%0';
INSERT INTO migration_issue (run_id, severity, object, legacy_id, field, code, message)
SELECT id, CASE WHEN id %% 3 = 0 THEN 'error' ELSE 'warning' END,
       (ARRAY['Account','Contact','Case','Meter__c'])[1 + id %% 4], 'L' || id, 'Email',
       (ARRAY['INVALID_EMAIL','TRUNCATED','VALUE_DROPPED','REQUIRED_MISSING'])[1 + id %% 4],
       'synthetic'
FROM migration_run WHERE id %% 2 = 0;
ANALYZE;
"""


def seed(dsn: str, customers: int) -> None:
    with psycopg2.connect(dsn, connect_timeout=10) as conn, conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
    store_dsn = _with_schema(dsn)
    asyncio.run(_migrate(store_dsn))
    with psycopg2.connect(store_dsn, connect_timeout=10) as conn, conn.cursor() as cur:
        cur.execute(SEED, {"n": customers})


def _with_schema(dsn: str) -> str:
    params = psycopg2.extensions.parse_dsn(dsn)
    params["options"] = f"{params.get('options', '')} -c search_path={SCHEMA}".strip()
    return psycopg2.extensions.make_dsn(**params)


async def _migrate(dsn: str) -> None:
    store = AuditStore(AuditSettings(dsn=dsn, pool_max=1))
    await store.start()
    await store.close()


async def measure(dsn: str, rounds: int) -> dict[str, list[float]]:
    store = AuditStore(AuditSettings(dsn=dsn, pool_max=5, timeout=10.0))
    await store.start()
    timings: dict[str, list[float]] = {
        "overview queries": [],
        "overview page served": [],
        "customers page (code filter)": [],
    }
    env = templates()
    reader = Principal("bench", Role.READER, "public")
    deps = [{"name": n, "status": "UP", "latency_ms": 1.0, "error": None} for n in DEPENDENCIES]
    try:
        snapshot = await queries.overview(store)  # warm the connection and caches
        for _ in range(rounds):
            # What a page view costs: the view renders the latest snapshot (refreshed in the
            # background every few seconds), never waiting on the queries once one exists.
            start = time.perf_counter()
            env.get_template("overview.html").render(
                principal=reader, actions_enabled=False, worker="bench", ov=snapshot, deps=deps
            )
            timings["overview page served"].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            await queries.overview(store)
            timings["overview queries"].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            await queries.customers(store, queries.CustomerFilter(code="INVALID_EMAIL", page=3))
            timings["customers page (code filter)"].append((time.perf_counter() - start) * 1000)
    finally:
        await store.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--dsn", default=os.environ.get("MIGRATION_DATABASE_URL", ""))
    parser.add_argument("--keep", action="store_true", help="keep the bench schema")
    args = parser.parse_args()
    if not args.dsn:
        raise SystemExit(
            "give --dsn or MIGRATION_DATABASE_URL (e.g. from `migration-app devstack`)"
        )
    seed(args.dsn, args.customers)
    try:
        timings = asyncio.run(measure(_with_schema(args.dsn), args.rounds))
    finally:
        if not args.keep:
            with psycopg2.connect(args.dsn, connect_timeout=10) as conn, conn.cursor() as cur:
                cur.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    print(f"console queries at {args.customers:,} customers ({args.rounds} rounds, uncached):")
    for name, values in timings.items():
        values.sort()
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        print(f"  {name:<30} median {statistics.median(values):7.1f} ms   p95 {p95:7.1f} ms")


if __name__ == "__main__":
    main()

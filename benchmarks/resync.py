"""`make bench-resync`: the cutover's delta re-sync at scale (issue 26).

On a fresh dev stack (V1 seeded with --customers, 20,000, dirty rate 0 so every customer
COMPLETES; both orgs at --latency-ms per call) one worker migrates every customer (through
Kafka, as `make bench` does). Then people work in both orgs:

* 1 % of the customers (--changed-v1) get one V1 record modified (their Account, or one of their
  Contacts, Cases or Meters, in turn), as V1's integration user (sObject Collections updates);
* 0.1 % others (--deleted-v1) get one V1 Contact (or Case, or Meter) deleted;
* 0.2 % (--edited-v2), taken among the 1 % changed in V1, get a V2 record edited by an agent (a
  JWT session as a person of the V2 org), so their re-migration meets the conflict guard.

Measured:

1. ``find``: `migration-app resync --dry-run --deleted delete` in process (``run_resync``): the
   seconds to find the changed customers (its ``find_seconds``: the audit's baselines, the V1
   queries, the plan) and the whole dry run's wall time; the API calls of finding (V1's
   ``/__admin/stats``: the queries and the login; finding touches no other org) per checked
   customer (goal <= 0.005), and apart the dry run's V2 calls (the deletion checks); the
   customers it lists must be exactly those changed in V1.
2. ``resync``: `migration-app resync --deleted delete` in process, then until a result event of
   every re-synced customer is read; API calls of the command and of the worker's
   re-migrations (sandbox stats delta over the window; the worker's health `limits` calls apart)
   per re-synced customer.
3. End state: `verify` of every re-synced customer (MATCH for the changed-in-V1 customers,
   EDITED_IN_V2 for those an agent edited), each agent edit still in V2, and a CONFLICT warning
   in the latest audit run of each of them; a second dry run finds none of them again.

Writes benchmarks/results/resync.json. Run: .venv/bin/python -m benchmarks.resync
[--customers 20000] [--latency-ms 50] [--changed-v1 0.01] [--edited-v2 0.002]
[--deleted-v1 0.001] [--timeout 900] [--keep-state]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
from simple_salesforce import Salesforce

from benchmarks.baseline import connect, sandbox_login
from benchmarks.probes import SandboxAdmin, WorkerProbe, machine_info, wait_until
from benchmarks.report import write_json
from benchmarks.result_watch import ResultWatcher
from benchmarks.run import scratch_database, server_database_url, worker_env
from devstack.dev import worker_process
from devstack.probes import free_port
from devstack.sandbox.reference_data import agents
from devstack.stack import DevStack, DevStackConfig
from migration_app.client_config import salesforce_config
from migration_app.migration.chunks import chunked
from migration_app.migration.spec import load_mapping
from migration_app.salesforce.client import SalesforceClient
from migration_app.salesforce.http import HttpSettings, build_session, login_domain_for
from migration_app.settings import Settings
from migration_app.verify.execution import verify_customers
from migration_app.worker.publisher import publish

RESULTS = Path(__file__).parent / "results" / "resync.json"
GOAL_CALLS_PER_CHECKED = 0.005
#: V1 children edited or deleted, in turn (object, lookup to the Account, field, V2 object)
CHILDREN = (
    ("Contact", "AccountId", "FirstName", "Contact"),
    ("Case", "AccountId", "Subject", "Case"),
    ("Meter__c", "Account__c", "Serial_Number__c", "Meter_Point__c"),
)
#: calls the worker makes for its health checks, not for the work (reported apart)
HEALTH_KINDS = frozenset({"limits"})
IDS_PER_QUERY = 200


@dataclasses.dataclass(frozen=True)
class Options:
    customers: int = 20_000
    latency_ms: int = 50
    changed_v1: float = 0.01
    edited_v2: float = 0.002
    deleted_v1: float = 0.001
    timeout_s: float = 900.0
    seed: int = 26
    output: Path = RESULTS
    keep_state: bool = False


# -- pure arithmetic (tests/unit/bench/test_resync_bench.py) ------------------------------------
def pick(ids: Sequence[str], opts: Options) -> dict[str, list[str]]:
    """Disjoint sets of customers: modified in V1, deleted from in V1; and among the modified,
    those an agent edits in V2."""
    rng = random.Random(opts.seed)
    shuffled = list(ids)
    rng.shuffle(shuffled)
    n_mod = max(1, round(len(ids) * opts.changed_v1))
    n_del = max(1, round(len(ids) * opts.deleted_v1))
    n_edit = min(n_mod, max(1, round(len(ids) * opts.edited_v2)))
    modified = sorted(shuffled[:n_mod])
    deleted = sorted(shuffled[n_mod : n_mod + n_del])
    return {"modified": modified, "deleted": deleted, "edited_v2": sorted(modified[:n_edit])}


def stats_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, int]:
    """Calls per endpoint kind between two /__admin/stats snapshots of one org."""
    prior = before.get("by_endpoint", {})
    out = {k: int(n) - int(prior.get(k, 0)) for k, n in after.get("by_endpoint", {}).items()}
    return {k: n for k, n in out.items() if n}


def work_calls(*deltas: Mapping[str, int]) -> tuple[int, int]:
    """(calls for the work, health-check calls) over both orgs' deltas."""
    work = sum(n for d in deltas for k, n in d.items() if k not in HEALTH_KINDS)
    health = sum(n for d in deltas for k, n in d.items() if k in HEALTH_KINDS)
    return work, health


def per(n: float, d: int) -> float | None:
    return round(n / d, 6) if d else None


# -- the run -----------------------------------------------------------------------------------
def v1_client(url: str) -> Salesforce:
    return connect(sandbox_login(url, "v1"))


def agent_client(settings: Settings) -> Salesforce:
    """A person of the V2 org (JWT bearer with the dev key, subject an agent)."""
    org = settings.sf2
    return Salesforce(
        username=agents("v2")[0],
        consumer_key=org.client_id,
        privatekey_file=org.private_key_file,
        domain=login_domain_for(org.url),
        session=build_session(HttpSettings(), org.url),
    )


def soql_in(ids: Iterable[str]) -> str:
    return ",".join(f"'{i}'" for i in ids)


def children_of(sf: Salesforce, customers: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """customer -> [(V1 object, Id)] of its children, in CHILDREN order."""
    out: dict[str, list[tuple[str, str]]] = {}
    for obj, lookup, _, _ in CHILDREN:
        for chunk in chunked(list(customers), IDS_PER_QUERY):
            soql = (
                f"SELECT Id, {lookup} FROM {obj} WHERE {lookup} IN ({soql_in(chunk)}) ORDER BY Id"
            )
            for row in sf.query_all(soql)["records"]:
                out.setdefault(row[lookup], []).append((obj, row["Id"]))
    return out


def collections_update(sf: Salesforce, records: list[dict[str, Any]]) -> None:
    for chunk in chunked(records, 200):
        body = {"allOrNone": True, "records": list(chunk)}
        results = sf.restful("composite/sobjects", method="PATCH", json=body)
        failed = [r for r in results if not r.get("success")]
        if failed:
            raise RuntimeError(f"update refused: {failed[:3]}")


def collections_delete(sf: Salesforce, ids: list[str]) -> None:
    for chunk in chunked(ids, 200):
        params = {"ids": ",".join(chunk), "allOrNone": "true"}
        results = sf.restful("composite/sobjects", method="DELETE", params=params)
        failed = [r for r in results if not r.get("success")]
        if failed:
            raise RuntimeError(f"delete refused: {failed[:3]}")


def make_changes(
    stack: DevStack, settings: Settings, chosen: dict[str, list[str]]
) -> dict[str, Any]:
    """People at work: V1 edits and deletions, agents' V2 edits. Returns what was changed."""
    sf1 = v1_client(stack.sf1.url)  # type: ignore[union-attr]
    kids = children_of(sf1, chosen["modified"] + chosen["deleted"])
    fields = {obj: field for obj, _, field, _ in CHILDREN}
    v1_updates: list[dict[str, Any]] = []
    for n, cid in enumerate(chosen["modified"]):
        options = kids.get(cid, [])
        if n % 4 == 0 or not options:
            v1_updates.append(
                {"attributes": {"type": "Account"}, "Id": cid, "BillingCity": f"Resync {n}"}
            )
        else:
            obj, rid = options[n % len(options)]
            v1_updates.append({"attributes": {"type": obj}, "Id": rid, fields[obj]: f"Resync {n}"})
    v1_deleted = []
    for cid in chosen["deleted"]:
        options = kids.get(cid)
        if not options:
            raise RuntimeError(f"customer {cid} has no child record to delete")
        v1_deleted.append(options[0][1])
    collections_update(sf1, v1_updates)
    collections_delete(sf1, v1_deleted)
    # agents' edits in V2: one Contact (else the Account) of each chosen customer
    sf2 = agent_client(settings)
    edited = chosen["edited_v2"]
    contacts: dict[str, str] = {}
    for chunk in chunked(edited, IDS_PER_QUERY):
        soql = (
            "SELECT Id, Account.Legacy_Id__c FROM Contact "
            f"WHERE Account.Legacy_Id__c IN ({soql_in(chunk)}) ORDER BY Id"
        )
        for row in sf2.query_all(soql)["records"]:
            contacts.setdefault(row["Account"]["Legacy_Id__c"], row["Id"])
    accounts: dict[str, str] = {}
    missing = [cid for cid in edited if cid not in contacts]
    for chunk in chunked(missing, IDS_PER_QUERY):
        soql = f"SELECT Id, Legacy_Id__c FROM Account WHERE Legacy_Id__c IN ({soql_in(chunk)})"
        accounts.update({r["Legacy_Id__c"]: r["Id"] for r in sf2.query_all(soql)["records"]})
    v2_updates = [
        {"attributes": {"type": "Contact"}, "Id": contacts[cid], "FirstName": f"Agent {n}"}
        if cid in contacts
        else {"attributes": {"type": "Account"}, "Id": accounts[cid], "BillingCity": f"Agent {n}"}
        for n, cid in enumerate(edited)
    ]
    collections_update(sf2, v2_updates)
    return {
        "v1_modified": len(v1_updates),
        "v1_modified_by_object": dict(Counter(r["attributes"]["type"] for r in v1_updates)),
        "v1_deleted": len(v1_deleted),
        "v2_edited": v2_updates,
    }


def migrate_all(settings: Settings, ids: list[str], timeout_s: float) -> float:
    """Enqueue every customer (normal producer batches) and wait for each one's result."""
    watcher = ResultWatcher(settings, set(ids))
    watcher.start()
    started = time.perf_counter()
    try:
        upstream = dataclasses.replace(settings, producer_max_batch_size=16384)
        asyncio.run(publish(upstream, ids, requested_by="bench-resync"))
        wait_until(
            lambda: watcher.all_seen_at is not None or watcher.error is not None,
            timeout_s,
            every=0.5,
            what=f"a result for each of {len(ids)} customers",
        )
    finally:
        watcher.stop()
    if watcher.error:
        raise RuntimeError(f"result watcher: {watcher.error}")
    return time.perf_counter() - started


async def resync(settings: Settings, *, dry_run: bool) -> tuple[bool, dict[str, Any], float]:
    from migration_app.resync.command import run_resync

    started = time.perf_counter()
    ok, text = await run_resync(settings, dry_run=dry_run, deleted="delete", as_json=True)
    wall = time.perf_counter() - started
    return ok, json.loads(text), wall


async def verify(settings: Settings, ids: list[str]) -> dict[str, Any]:
    sf1 = SalesforceClient(salesforce_config(settings, "sf1"))
    sf2 = SalesforceClient(salesforce_config(settings, "sf2"))
    await sf1.start()
    await sf2.start()
    try:
        verdicts = await verify_customers(
            ids, load_mapping(), sf1, sf2, integration_username=settings.sf2.username
        )
    finally:
        await sf1.close()
        await sf2.close()
    return {v.customer_id: v.verdict for v in verdicts}


def latest_issue_codes(dsn: str, ids: list[str]) -> dict[str, set[str]]:
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(
                """
                SELECT l.customer_id, i.code FROM (
                    SELECT DISTINCT ON (customer_id) id, customer_id FROM migration_run
                    WHERE customer_id = ANY(%s) ORDER BY customer_id, attempt DESC) l
                LEFT JOIN migration_issue i ON i.run_id = l.id
                """,
                (ids,),
            )
            out: dict[str, set[str]] = {cid: set() for cid in ids}
            for cid, code in cur.fetchall():
                if code:
                    out[cid].add(code)
            return out
    finally:
        conn.close()


def v2_values(sf2: Salesforce, updates: list[dict[str, Any]]) -> int:
    """How many of the agents' edits V2 still holds."""
    kept = 0
    for obj in ("Contact", "Account"):
        mine = [u for u in updates if u["attributes"]["type"] == obj]
        field = "FirstName" if obj == "Contact" else "BillingCity"
        for chunk in chunked(mine, IDS_PER_QUERY):
            soql = f"SELECT Id, {field} FROM {obj} WHERE Id IN ({soql_in(u['Id'] for u in chunk)})"
            now = {r["Id"]: r[field] for r in sf2.query_all(soql)["records"]}
            kept += sum(1 for u in chunk if now.get(u["Id"]) == u[field])
    return kept


def run(opts: Options, root: Path) -> dict[str, Any]:
    state_dir = root / "stack"
    with scratch_database(server_database_url()) as db_url:
        config = DevStackConfig(
            broker_port=free_port(),
            registry_port=free_port(),
            sf1_port=free_port(),
            sf2_port=free_port(),
            database_url=db_url,
            state_dir=state_dir,
            customers=opts.customers,
            sandbox_latency_ms=opts.latency_ms,
            sandbox_dirty_rate=0.0,
        )
        seed_started = time.perf_counter()
        with DevStack(config) as stack:
            stack_s = time.perf_counter() - seed_started
            return measure(stack, opts, state_dir, stack_s)


def measure(stack: DevStack, opts: Options, state_dir: Path, stack_s: float) -> dict[str, Any]:
    admin1 = SandboxAdmin(stack.sf1.url)  # type: ignore[union-attr]
    admin2 = SandboxAdmin(stack.sf2.url)  # type: ignore[union-attr]
    ids = admin1.customers()
    env = worker_env(stack, state_dir, 200, 0.5)
    settings = Settings.from_env(env)
    worker = worker_process(
        env, web_port=free_port(), log_dir=state_dir / "logs", ready_path="/migrations/summary"
    )
    worker.start()
    try:
        probe = WorkerProbe(worker)
        wait_until(probe.consuming, 120, what="the worker to join its group")
        migrate_s = migrate_all(settings, ids, opts.timeout_s)
        statuses = probe.summary().get("by_status", {})
        if statuses.get("COMPLETED", 0) != len(ids):
            raise RuntimeError(f"not every customer COMPLETED: {statuses}")
        print(f"migrated {len(ids)} customers in {migrate_s:.1f} s", flush=True)

        chosen = pick(ids, opts)
        changes = make_changes(stack, settings, chosen)
        changed = sorted(chosen["modified"] + chosen["deleted"])

        # 1. find (dry run)
        before1, before2 = admin1.stats(), admin2.stats()
        ok, found, dry_wall = asyncio.run(resync(settings, dry_run=True))
        find_v1, find_v2 = (
            stats_delta(before1, admin1.stats()),
            stats_delta(before2, admin2.stats()),
        )
        listed = sorted(c["customer_id"] for c in found["customers"])
        # finding reads V1 only (and the audit); the dry run's V2 calls are the deletion checks
        find_calls = sum(find_v1.values())
        checked = found["checked_customers"]
        print(f"dry run: {len(listed)} customers listed in {dry_wall:.2f} s", flush=True)

        # 2. resync and the re-migrations
        watcher = ResultWatcher(settings, set(changed))
        watcher.start()
        before1, before2 = admin1.stats(), admin2.stats()
        started = time.perf_counter()
        try:
            resync_ok, done, resync_wall = asyncio.run(resync(settings, dry_run=False))
            wait_until(
                lambda: watcher.all_seen_at is not None or watcher.error is not None,
                opts.timeout_s,
                every=0.2,
                what=f"a result for each of {len(changed)} re-synced customers",
            )
        finally:
            watcher.stop()
        remigrated_s = time.perf_counter() - started
        d1, d2 = stats_delta(before1, admin1.stats()), stats_delta(before2, admin2.stats())
        work, health = work_calls(d1, d2)
        command_calls = done["api_calls"]["total"]
        deletions = Counter(
            ch["v2"]["decision"] for c in done["customers"] for ch in c["changes"] if "v2" in ch
        )

        # 3. end state
        verdicts = asyncio.run(verify(settings, changed))
        edited = set(chosen["edited_v2"])
        expected_match = [cid for cid in changed if cid not in edited]
        codes = latest_issue_codes(stack.database_url, changed)
        kept = v2_values(connect(sandbox_login(stack.sf2.url, "v2")), changes["v2_edited"])
        _, again, _ = asyncio.run(resync(settings, dry_run=True))
        relisted = set(c["customer_id"] for c in again["customers"]) & set(changed)
    finally:
        worker.stop()

    end_state = {
        "verdicts": dict(Counter(verdicts.values())),
        "changed_in_v1_match": sum(1 for cid in expected_match if verdicts.get(cid) == "MATCH"),
        "changed_in_v1_expected_match": len(expected_match),
        "edited_in_v2_verdict_edited": sum(
            1 for cid in edited if verdicts.get(cid) == "EDITED_IN_V2"
        ),
        "edited_in_v2_conflict_reported": sum(1 for cid in edited if "CONFLICT" in codes[cid]),
        "edited_in_v2_kept": kept,
        "edited_in_v2": len(edited),
        "relisted_by_a_second_dry_run": len(relisted),
    }
    end_state["passed"] = (
        end_state["changed_in_v1_match"] == len(expected_match)
        and end_state["edited_in_v2_kept"] == len(edited)
        and end_state["edited_in_v2_conflict_reported"] == len(edited)
        and end_state["edited_in_v2_verdict_edited"] == len(edited)
        and not relisted
    )
    return {
        "customers": len(ids),
        "latency_ms": opts.latency_ms,
        "stack_start_s": round(stack_s, 1),
        "migrate_s": round(migrate_s, 1),
        "changes": {k: v for k, v in changes.items() if k != "v2_edited"}
        | {
            "v2_edited": len(changes["v2_edited"]),
            "customers": {k: len(v) for k, v in chosen.items()},
        },
        "find": {
            "ok": ok,
            "find_s": found["find_seconds"],
            "dry_run_wall_s": round(dry_wall, 3),
            "checked_customers": checked,
            "listed": len(listed),
            "listed_exactly_the_changed": listed == changed,
            "not_migrated_listed": len(found["not_migrated"]),
            "api_calls": find_calls,
            "api_calls_counted_by_the_command": found["api_calls"]["find"],
            "api_calls_by_org": {"v1": find_v1, "v2": find_v2},
            "deletion_check_calls": sum(find_v2.values()),
            "api_calls_per_checked_customer": per(find_calls, checked),
            "goal_per_checked_customer": GOAL_CALLS_PER_CHECKED,
            "goal_met": checked > 0 and find_calls / checked <= GOAL_CALLS_PER_CHECKED,
        },
        "resync": {
            "ok": resync_ok,
            "command_wall_s": round(resync_wall, 3),
            "enqueued": len(done["enqueued"]),
            "deletions": dict(deletions),
            "until_all_results_s": round(remigrated_s, 2),
            "api_calls": work,
            "api_calls_command": command_calls,
            "api_calls_worker": work - command_calls,
            "api_calls_health_apart": health,
            "api_calls_by_org": {"v1": d1, "v2": d2},
            "api_calls_per_resynced_customer": per(work, len(changed)),
            "errors": done["errors"],
        },
        "end_state": end_state,
    }


def print_table(report: dict[str, Any]) -> None:
    find, sync, end = report["find"], report["resync"], report["end_state"]
    rows = [
        ("customers migrated (COMPLETED)", f"{report['customers']:,} in {report['migrate_s']} s"),
        ("changed in V1 / deleted in V1 / edited in V2", " / ".join(
            str(n) for n in report["changes"]["customers"].values())),
        ("time to find the changed customers",
         f"{find['find_s']} s (dry run {find['dry_run_wall_s']} s)"),
        ("listed exactly the changed customers", str(find["listed_exactly_the_changed"])),
        ("API calls per checked customer (goal <= 0.005)",
         f"{find['api_calls_per_checked_customer']} ({find['api_calls']} calls)"),
        ("API calls per re-synced customer",
         f"{sync['api_calls_per_resynced_customer']} ({sync['api_calls_command']} command + "
         f"{sync['api_calls_worker']} worker)"),
        ("resync to the last result", f"{sync['until_all_results_s']} s"),
        ("V1 deletions", json.dumps(sync["deletions"])),
        ("verdicts", json.dumps(end["verdicts"])),
        ("changed in V1: MATCH",
         f"{end['changed_in_v1_match']}/{end['changed_in_v1_expected_match']}"),
        ("V2 edits kept / CONFLICT reported",
         f"{end['edited_in_v2_kept']}/{end['edited_in_v2']} / "
         f"{end['edited_in_v2_conflict_reported']}/{end['edited_in_v2']}"),
        ("end state passed", str(end["passed"])),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="benchmarks.resync", description=__doc__)
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--latency-ms", type=int, default=50)
    p.add_argument("--changed-v1", type=float, default=0.01)
    p.add_argument("--edited-v2", type=float, default=0.002)
    p.add_argument("--deleted-v1", type=float, default=0.001)
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--seed", type=int, default=26)
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--keep-state", action="store_true")
    a = p.parse_args(argv)
    return Options(
        customers=a.customers,
        latency_ms=a.latency_ms,
        changed_v1=a.changed_v1,
        edited_v2=a.edited_v2,
        deleted_v1=a.deleted_v1,
        timeout_s=a.timeout,
        seed=a.seed,
        output=a.output,
        keep_state=a.keep_state,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    root = Path(tempfile.mkdtemp(prefix="migration-bench-resync-"))
    started = datetime.now(UTC)
    try:
        result = run(opts, root)
    finally:
        if opts.keep_state:
            print(f"state kept in {root}")
        else:
            with contextlib.suppress(OSError):
                shutil.rmtree(root)
    report = {
        "benchmark": "resync",
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "config": {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(opts).items()
        },
        "machine": machine_info(),
        **result,
    }
    write_json(opts.output, report)
    print_table(report)
    print(f"written to {opts.output}")
    return 0 if result["end_state"]["passed"] and result["find"]["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())

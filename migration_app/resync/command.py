"""`migration-app resync`: find the customers changed in V1 since their last COMPLETED migration,
handle the records deleted in V1 by policy, enqueue the customers as re-migrations (``force``,
as `enqueue --force`: the worker's conflict guard keeps what people changed in V2), record what
it did in the audit, and print it (a table, or ``--json``).

``--dry-run`` reads only: it lists each customer with what changed and what would happen, and
enqueues, deletes and records nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from migration_app.audit.store import AuditStore
from migration_app.client_config import audit_config
from migration_app.migration.spec import load_mapping
from migration_app.resync.execution import (
    Found,
    apply_deletions,
    decide_deletions,
    deletion_text,
    find_changes,
    record,
    resync_outcome,
)
from migration_app.resync.plan import (
    DELETE,
    DELETE_FAILED,
    DELETED,
    DELETED_POLICIES,
    MODIFIED,
    REPORT,
    Deletion,
    iso,
    parse_datetime,
)
from migration_app.salesforce.org_clients import org_clients
from migration_app.settings import Settings
from migration_app.worker.publisher import publish

ACTOR = "migration-app resync"
SHOWN_CHANGES = 10  # per customer in the table (--json has them all)
SHOWN_IDS = 10


async def run_resync(
    settings: Settings,
    *,
    since: str | None = None,
    dry_run: bool = False,
    deleted: str = REPORT,
    as_json: bool = False,
    requeue_after_s: float = 3600.0,
) -> tuple[bool, str]:
    """(no error, report). API calls are counted per org; finding costs the same whatever the
    number of migrated customers."""
    if deleted not in DELETED_POLICIES:
        return False, f"resync: --deleted must be one of {', '.join(DELETED_POLICIES)}"
    try:
        after = parse_datetime(since) if since else None
    except ValueError:
        return False, f"resync: --since must be an ISO-8601 date and time, got {since!r}"
    calls: Counter[tuple[str, str]] = Counter()

    def count(org: str, endpoint: str, status: int) -> None:
        if endpoint != "retry":
            calls[(org, endpoint)] += 1

    spec = load_mapping(settings.mapping_file or None)
    store = AuditStore(audit_config(settings, pool_max=1))
    errors: list[str] = []
    enqueued: list[str] = []
    await store.start()
    try:
        async with org_clients(settings, role="cli-resync", on_call=count) as orgs:
            found = await find_changes(
                spec, orgs["sf1"], store, since=after, requeue_after_s=requeue_after_s
            )
            find_calls = Counter(calls)
            deletions = await decide_deletions(
                spec,
                found.plan,
                store,
                orgs["sf2"],
                policy=deleted,
                integration_username=settings.sf2.username,
            )
            if not dry_run:
                if deleted == DELETE:
                    await apply_deletions(spec, deletions, orgs["sf2"])
                errors += [
                    f"{d.customer_id}: {deletion_text(d)}"
                    for d in deletions
                    if d.decision == DELETE_FAILED
                ]
                ids = found.plan.to_enqueue
                if ids:
                    try:
                        await publish(settings, ids, force=True, requested_by=ACTOR)
                        enqueued = ids
                    except Exception as exc:  # broker or registry down: nothing was enqueued
                        errors.append(f"enqueue failed: {type(exc).__name__}: {exc}")
                await record(store, found.plan, deletions, enqueued, actor=ACTOR)
    finally:
        await store.close()
    report = Report(found, deletions, enqueued, dry_run, deleted, after, errors, find_calls, calls)
    return not errors, (json.dumps(report.to_json(), indent=2) if as_json else report.render())


class Report:
    """What the command prints."""

    def __init__(
        self,
        found: Found,
        deletions: list[Deletion],
        enqueued: list[str],
        dry_run: bool,
        policy: str,
        since: datetime | None,
        errors: list[str],
        find_calls: Counter[tuple[str, str]],
        calls: Counter[tuple[str, str]],
    ) -> None:
        self.found, self.plan = found, found.plan
        self.deletions = {(d.customer_id, d.record.v1_id): d for d in deletions}
        self.enqueued = set(enqueued)
        self.dry_run, self.policy, self.since, self.errors = dry_run, policy, since, errors
        self.find_calls, self.calls = find_calls, calls

    def status(self, customer: Any) -> str:
        return resync_outcome(
            customer, enqueued=customer.customer_id in self.enqueued, dry_run=self.dry_run
        )

    def api_calls(self) -> dict[str, Any]:
        find = sum(self.find_calls.values())
        queries = sum(n for (_, kind), n in self.find_calls.items() if kind.startswith("query"))
        checked = self.found.checked_customers
        return {
            "find": find,
            "find_queries": queries,
            "find_per_checked_customer": round(find / checked, 6) if checked else None,
            "total": sum(self.calls.values()),
            "by_org_and_kind": {f"{o}:{k}": n for (o, k), n in sorted(self.calls.items())},
        }

    def to_json(self) -> dict[str, Any]:
        customers = []
        for customer in self.plan.customers:
            changes = []
            for change in customer.changes:
                item = change.to_json()
                deletion = self.deletions.get((customer.customer_id, change.v1_id))
                if deletion is not None:
                    item["v2"] = deletion.to_json()
                changes.append(item)
            customers.append(
                {
                    "customer_id": customer.customer_id,
                    "since": iso(customer.since),
                    "status": self.status(customer),
                    "enqueued": customer.customer_id in self.enqueued,
                    "changes": changes,
                }
            )
        return {
            "dry_run": self.dry_run,
            "deleted_policy": self.policy,
            "since": iso(self.since) if self.since else None,
            "query_since": iso(self.found.query_since) if self.found.query_since else None,
            "checked_customers": self.found.checked_customers,
            "find_seconds": round(self.found.find_s, 3),
            "customers": customers,
            "enqueued": sorted(self.enqueued),
            "already_queued": [c.customer_id for c in self.plan.queued],
            "not_migrated": {
                cid: [c.to_json() for c in changes]
                for cid, changes in sorted(self.plan.not_migrated.items())
            },
            "unchecked_objects": self.found.unchecked,
            "api_calls": self.api_calls(),
            "errors": self.errors,
        }

    def render(self) -> str:
        lines = []
        if self.plan.customers:
            lines.append(
                f"{'customer':<20}{'change':<10}{'object':<12}{'V1 id':<20}V1 SystemModstamp"
            )
        for customer in self.plan.customers:
            lines.append(
                f"{customer.customer_id:<20}since {iso(customer.since)}: {self.status(customer)}"
            )
            for change in customer.changes[:SHOWN_CHANGES]:
                line = (
                    f"{'':<20}{change.change:<10}{change.object:<12}{change.v1_id:<20}"
                    f"{iso(change.system_modstamp)}"
                )
                deletion = self.deletions.get((customer.customer_id, change.v1_id))
                if deletion is not None:
                    where = f"{deletion.target} {deletion.v2_id}" if deletion.v2_id else "V2"
                    detail = f" ({deletion.detail})" if deletion.detail else ""
                    line += f"  -> {where}: {deletion.decision}{detail}"
                lines.append(line)
            if len(customer.changes) > SHOWN_CHANGES:
                lines.append(f"{'':<20}(+{len(customer.changes) - SHOWN_CHANGES} more)")
        if self.plan.not_migrated:
            ids = sorted(self.plan.not_migrated)
            more = f" (+{len(ids) - SHOWN_IDS} more)" if len(ids) > SHOWN_IDS else ""
            lines.append(
                f"not migrated yet (no COMPLETED migration in the audit): {len(ids)} customer(s) "
                f"changed in V1, not re-synced: {', '.join(ids[:SHOWN_IDS])}{more}"
            )
        if self.found.unchecked:
            lines.append(
                "not checked (no lookup to the root object): " + ", ".join(self.found.unchecked)
            )
        lines += [f"ERROR {error}" for error in self.errors]
        lines.append(self.summary())
        return "\n".join(lines)

    def summary(self) -> str:
        changes = [c for customer in self.plan.customers for c in customer.changes]
        kinds = Counter(c.change for c in changes)
        found = self.found
        api = self.api_calls()
        if found.query_since is None:
            checked = "no customer has a COMPLETED migration in the audit: nothing checked"
        else:
            per = api["find_per_checked_customer"]
            checked = (
                f"checked {found.checked_customers} migrated customer(s) for V1 changes since "
                f"{iso(found.query_since)} in {found.find_s:.2f} s with {api['find']} API call(s) "
                f"({api['find_queries']} query): {per:.5f} per checked customer"
            )
        if self.dry_run:
            done = "dry run: nothing enqueued, deleted or recorded"
        else:
            done = f"{len(self.enqueued)} enqueued as re-migrations"
        queued = len(self.plan.queued)
        return (
            f"summary: {len(self.plan.customers)} customer(s) changed in V1 since their last "
            f"COMPLETED migration ({kinds.get(MODIFIED, 0)} record(s) modified, "
            f"{kinds.get(DELETED, 0)} deleted; --deleted {self.policy}); {done}"
            + (
                f"; {queued} already handled by an earlier resync, not migrated since"
                if queued
                else ""
            )
            + f"; {checked}; {api['total']} API call(s) in all (logins included)"
        )

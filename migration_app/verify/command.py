"""`migration-app verify`: verdicts per customer, written to the audit, printed as a table."""

from __future__ import annotations

import json
import random
from collections import Counter

from migration_app.audit.store import AuditStore
from migration_app.client_config import audit_config
from migration_app.migration.salesforce_ids import is_salesforce_id
from migration_app.migration.spec import load_mapping
from migration_app.resync.plan import parse_datetime
from migration_app.salesforce.org_clients import org_clients
from migration_app.settings import Settings
from migration_app.verify.execution import audit_rows, verify_customers
from migration_app.verify.plan import GOOD_VERDICTS, SEVERITY

SHOWN_DETAILS = 5


async def run_verify(
    settings: Settings,
    customer_ids: list[str],
    *,
    all_completed: bool = False,
    sample: int | None = None,
    since: str | None = None,
    as_json: bool = False,
) -> tuple[bool, str]:
    """(all MATCH or EDITED_IN_V2, report). API calls are counted and printed per customer."""
    calls = Counter()

    def count(org: str, endpoint: str, status: int) -> None:
        calls[org] += 1

    if sample is not None and sample < 1:
        return False, f"verify: --sample must be at least 1, got {sample}"
    try:
        after = parse_datetime(since) if since else None
    except ValueError:
        return False, f"verify: --since must be an ISO-8601 date and time, got {since!r}"
    spec = load_mapping(settings.mapping_file or None)
    store = AuditStore(audit_config(settings, pool_max=1))
    await store.start()
    try:
        ids = list(customer_ids)
        if all_completed or sample:
            ids += await store.completed_customers(after)
        ids = list(dict.fromkeys(ids))
        invalid = [i for i in ids if not is_salesforce_id(i)]
        if invalid:
            return False, f"verify: not Salesforce Account ids: {', '.join(invalid[:10])}"
        if sample is not None and sample < len(ids):
            ids = random.sample(ids, sample)
        if not ids:
            return False, "verify: give customer ids, --all or --sample N"
        async with org_clients(settings, role="cli-verify", on_call=count) as orgs:
            verdicts = await verify_customers(
                ids, spec, orgs["sf1"], orgs["sf2"], integration_username=settings.sf2.username
            )
        await store.record_verifications(audit_rows(verdicts, "cli"))
    finally:
        await store.close()
    ok = all(v.verdict in GOOD_VERDICTS for v in verdicts)
    api_calls = sum(calls.values())
    if as_json:
        doc = {
            "verdicts": {
                v.customer_id: {"verdict": v.verdict, "details": v.details()} for v in verdicts
            },
            "api_calls": api_calls,
        }
        return ok, json.dumps(doc, indent=2, default=str)
    totals = Counter(v.verdict for v in verdicts)
    width = max(len(name) for name in SEVERITY) + 2  # EDITED_IN_V2 is 12 characters
    lines = [f"{'customer':<20}{'verdict':<{width}}details"]
    for verdict in sorted(verdicts, key=lambda v: (SEVERITY.index(v.verdict), v.customer_id)):
        details = verdict.details()
        shown = "; ".join(_detail(d) for d in details[:SHOWN_DETAILS])
        more = f" (+{len(details) - SHOWN_DETAILS} more)" if len(details) > SHOWN_DETAILS else ""
        lines.append(f"{verdict.customer_id:<20}{verdict.verdict:<{width}}{shown}{more}")
    lines.append(
        "summary: "
        + ", ".join(f"{name} {totals.get(name, 0)}" for name in SEVERITY)
        + f"; {len(verdicts)} customer(s), {api_calls} API call(s), "
        f"{api_calls / max(len(verdicts), 1):.3f} per customer (logins included)"
    )
    return ok, "\n".join(lines)


def _detail(d: dict) -> str:
    where = f"{d['object']} {d['legacy_id']}"
    if d["kind"] == "DRIFT":
        return f"{where} {d['field']}: V1 {d['expected']!r} != V2 {d['actual']!r}"
    if d["kind"] == "EDITED_IN_V2":
        return f"{where} {d['field']}: edited in V2 by {d.get('by')} (V2 {d['actual']!r})"
    return f"{d['kind']} {where}"

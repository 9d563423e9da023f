"""Sandbox speed through simple-salesforce: a 2,000-record SOQL page with a child subquery, a
200-record sObject Collections upsert, an `Id IN (200 ids)` query, and seeding 10,000 customers.

Run: .venv/bin/python benchmarks/bench_sandbox.py [--customers 2000] [--repeat 15]
Prints the numbers and writes benchmarks/results/sandbox.json. Targets: page < 200 ms,
upsert < 100 ms, seeding 10k < 10 s.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from simple_salesforce import Salesforce

from devstack.sandbox import SandboxConfig, SandboxThread
from devstack.sandbox.ids import IdFactory
from devstack.sandbox.schema import v1_schema
from devstack.sandbox.seed import seed_v1
from devstack.sandbox.store import Store
from migration_app.salesforce.http import HttpSettings, build_session, login_domain_for

RESULTS = Path(__file__).parent / "results" / "sandbox.json"
PAGE_SOQL = (
    "SELECT Id, Name, Phone, BillingCity, Customer_Number__c, Account_Status__c, "
    "(SELECT Id, FirstName, LastName, Email, Phone FROM Contacts) FROM Account LIMIT 2000"
)


def _login(sandbox: SandboxThread) -> Salesforce:
    cfg = sandbox.state.org.config
    return Salesforce(
        username=cfg.username,
        password=cfg.password,
        security_token=cfg.security_token,
        domain=login_domain_for(sandbox.url),
        session=build_session(HttpSettings(), sandbox.url),
    )


def _timed(fn: Callable[[], object], repeat: int) -> dict:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "min_ms": round(samples[0], 2),
        "p90_ms": round(samples[int(0.9 * (len(samples) - 1))], 2),
        "runs": repeat,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()

    start = time.perf_counter()
    seed_v1(Store(v1_schema(), IdFactory("1S")), 10_000, 42)
    seed_10k_s = round(time.perf_counter() - start, 3)

    v1 = SandboxThread(SandboxConfig(org="v1", port=0, customers=args.customers)).start()
    v2 = SandboxThread(SandboxConfig(org="v2", port=0)).start()
    try:
        sf1, sf2 = _login(v1), _login(v2)
        page = sf1.query(PAGE_SOQL)
        n_children = sum((r["Contacts"] or {"totalSize": 0})["totalSize"] for r in page["records"])
        query_page = _timed(lambda: sf1.query(PAGE_SOQL), args.repeat)

        in_list = ",".join(f"'{r['Id']}'" for r in page["records"][:200])
        in_soql = (
            "SELECT Id, Name, (SELECT Id FROM Contacts), (SELECT Id FROM Cases), "
            f"(SELECT Id FROM Meters__r) FROM Account WHERE Id IN ({in_list})"
        )
        query_in = _timed(lambda: sf1.query(in_soql), args.repeat)

        records = [
            {
                "attributes": {"type": "Account"},
                "Legacy_Id__c": r["Id"],
                "Name": r["Name"],
                "Phone": r["Phone"],
                "Status__c": "Active",
            }
            for r in page["records"][:200]
        ]
        body = {"allOrNone": False, "records": records}

        def upsert() -> None:
            res = sf2.restful("composite/sobjects/Account/Legacy_Id__c", method="PATCH", json=body)
            assert len(res) == 200 and all(r["success"] for r in res), res[:1]

        upsert_create = _timed(upsert, 1)
        upsert_update = _timed(upsert, args.repeat)
    finally:
        v1.stop()
        v2.stop()

    result = {
        "python": platform.python_version(),
        "v1_customers": args.customers,
        "seed_10k_customers_s": seed_10k_s,
        "query_page_2000_with_children": {
            **query_page,
            "records": len(page["records"]),
            "child_records": n_children,
        },
        "query_id_in_200_with_3_subqueries": query_in,
        "collections_upsert_200_create": upsert_create,
        "collections_upsert_200_update": upsert_update,
        "targets": {"query_page_ms": 200, "upsert_200_ms": 100, "seed_10k_s": 10},
    }
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

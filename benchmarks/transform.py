"""Micro-benchmark of the pure transform: `python -m benchmarks.transform`.

Builds synthetic V1 customers (1 account, 4 contacts, 6 cases, 4 meters = 15 records, with
~10% dirty values), then times transform_customer and plan_upserts. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from migration_app.migration.collections_plan import plan_upserts
from migration_app.migration.customer_transform import transform_customer
from migration_app.migration.reference_rules import ReferenceData
from migration_app.migration.spec import MappingSpec, load_mapping


def _sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:012d}AAA"


def _sub(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"totalSize": len(records), "done": True, "records": records}


def synthetic_customer(n: int, rng: random.Random, dirty: float = 0.1) -> dict[str, Any]:
    """One V1 Account record with child subqueries, as the extract SOQL returns it."""
    aid = _sid("001", n)

    def pick(clean: Any, bad: Any) -> Any:
        return bad if rng.random() < dirty else clean

    contacts = [
        {
            "attributes": {"type": "Contact"},
            "Id": _sid("003", n * 10 + i),
            "AccountId": aid,
            "FirstName": "Ada",
            "LastName": pick(f"Smith{i}", None),
            "Email": pick(f"ada{n}.{i}@example.com", "ada at example"),
            "Phone": pick(f"07700 9{rng.randrange(100000):05d}", "n/a"),
            "Is_Primary__c": i == 0,
        }
        for i in range(4)
    ]
    cases = [
        {
            "attributes": {"type": "Case"},
            "Id": _sid("500", n * 10 + i),
            "AccountId": aid,
            "ContactId": contacts[i % 4]["Id"],
            "Subject": "Billing question",
            "Description": pick("Customer called about a bill.", "x" * 4500),
            "Status": "New",
            "Priority": pick("High", "Urgent"),
            "Origin": "Web",
        }
        for i in range(6)
    ]
    meters = [
        {
            "attributes": {"type": "Meter__c"},
            "Id": _sid("a00", n * 10 + i),
            "Account__c": aid,
            "Name": f"M{n}-{i}",
            "MPAN__c": f"{rng.randrange(10**12, 10**13)}",
            "Fuel_Type__c": pick("Gas", "Oil"),
            "Serial_Number__c": f"S{i}",
        }
        for i in range(4)
    ]
    return {
        "attributes": {"type": "Account"},
        "Id": aid,
        "Name": f"Customer {n}",
        "Phone": pick("+44 20 7946 0018", "call office"),
        "BillingStreet": "1 High Street",
        "BillingCity": "London",
        "BillingPostalCode": "N1 1AA",
        "BillingCountry": "United Kingdom",
        "Customer_Number__c": f"C{n}",
        "Account_Status__c": pick("Debt", "Suspended"),
        "Tariff__c": "FIX-12",
        "Contacts": _sub(contacts),
        "Cases": _sub(cases),
        "Meters__r": _sub(meters),
    }


_OWNERS = [f"user{i}@energy.example" for i in range(10)]


def synthetic_reference(spec: MappingSpec) -> ReferenceData:
    """V2 users for _OWNERS (the last one inactive) and the record types the mapping names."""
    users = [
        {"Id": _sid("005", i), "Username": f"u{i}@v2", "Email": email, "IsActive": i < 9}
        for i, email in enumerate(_OWNERS)
    ]
    fallback = spec.owners.on_missing.target if spec.owners else None
    users.append({"Id": _sid("005", 99), "Username": fallback or "-", "IsActive": True})
    types = []
    for obj in spec.objects:
        rule = obj.record_type
        names = {"Residential", "Business", *(rule.renamed.values() if rule else ())}
        if rule is not None and rule.on_missing.target:
            names.add(rule.on_missing.target)
        types += [
            {"Id": _sid("012", len(types) + i), "DeveloperName": name, "SobjectType": obj.target}
            | {"IsActive": True}
            for i, name in enumerate(sorted(names))
        ]
    return ReferenceData.from_rows(spec.owners, users, types)


def _with_owners(record: dict[str, Any], rng: random.Random) -> None:
    """Owner, record type and CreatedDate on every record of a synthetic customer."""
    for row in [record] + [
        r for rel in ("Contacts", "Cases", "Meters__r") for r in record[rel]["records"]
    ]:
        row["Owner"] = {"Email": rng.choice(_OWNERS)}
        row["RecordType"] = {"DeveloperName": rng.choice(("Residential", "Business", "Gone"))}
        row["CreatedDate"] = "2020-01-01T00:00:00.000+0000"


def run(spec: MappingSpec, customers: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    accounts = [synthetic_customer(n, rng) for n in range(customers)]
    for account in accounts:
        _with_owners(account, rng)
    reference = synthetic_reference(spec)
    started = time.perf_counter()
    plans = [transform_customer(spec, account, reference) for account in accounts]
    transformed = time.perf_counter()
    chunks = plan_upserts(plans, spec)
    planned = time.perf_counter()
    records = sum(sum(p.counts.values()) for p in plans)
    return {
        "customers": customers,
        "v1_records": records,
        "issues": sum(len(p.issues) for p in plans),
        "chunks": len(chunks),
        "transform_s": round(transformed - started, 4),
        "transform_us_per_record": round((transformed - started) / records * 1e6, 2),
        "plan_s": round(planned - transformed, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the fastest is printed")
    args = parser.parse_args()
    spec = load_mapping()
    results = [run(spec, args.customers) for _ in range(args.repeat)]
    print(json.dumps(min(results, key=lambda r: r["transform_s"])))


if __name__ == "__main__":
    main()

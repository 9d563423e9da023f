"""The naive baseline the worker is compared with: one customer at a time, one record at a time.

Per customer: one SOQL query on V1 (the app's own extract query for that single id), the app's
transform, then one ``sf.<Object>.create`` per V2 record, parents first, all sequential. This is
what a first script against simple-salesforce would do; it shows what batching buys.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from devstack.stack import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from migration_app.migration.customer_transform import transform_customer
from migration_app.migration.reference_rules import ReferenceData
from migration_app.migration.spec import MappingSpec
from migration_app.salesforce.http import HttpSettings, build_session
from migration_app.salesforce.login import SANDBOX_MY_DOMAIN
from migration_app.worker.reference_cache import reference_queries


@dataclass(frozen=True)
class OrgLogin:
    """Where and as whom the baseline logs in (sandbox credentials, dev only)."""

    url: str
    username: str
    password: str
    security_token: str


@dataclass
class BaselineResult:
    customers: int = 0
    completed: int = 0
    failed: int = 0
    records_created: int = 0
    record_errors: int = 0
    client_calls: int = 0  # calls this script made, logins included (cross-check of the sandbox)
    wall_s: float = 0.0
    errors_by_code: dict[str, int] = field(default_factory=dict)

    @property
    def customers_per_s(self) -> float:
        return self.customers / self.wall_s if self.wall_s else 0.0


def sandbox_login(url: str, org: str) -> OrgLogin:
    """The sandbox's default credentials for org "v1" or "v2" (docs/orgs.md)."""
    n = org.removeprefix("v")
    return OrgLogin(url, f"migration@v{n}.sandbox", f"sandbox-v{n}-password", f"sandbox-v{n}-token")


def connect(login: OrgLogin, http: HttpSettings | None = None) -> Salesforce:
    """A simple-salesforce client on a session with timeouts (one login call: the sandbox's
    External Client App, client credentials; the dev V2 org has SOAP login() disabled)."""
    return Salesforce(
        consumer_key=DEV_CLIENT_ID,
        consumer_secret=DEV_CLIENT_SECRET,
        domain=SANDBOX_MY_DOMAIN,
        session=build_session(http or HttpSettings(), login.url),
    )


def run_baseline(
    spec: MappingSpec, source: OrgLogin, target: OrgLogin, customer_ids: Sequence[str]
) -> BaselineResult:
    """Migrate ``customer_ids`` naively; per-record failures are counted, never raised."""
    result = BaselineResult(customers=len(customer_ids))
    started = time.perf_counter()
    sf1 = connect(source)
    sf2 = connect(target)
    result.client_calls += 2
    try:
        reference = _reference_data(spec, sf2, result)
        for customer_id in customer_ids:
            ok = _migrate_one(spec, sf1, sf2, customer_id, result, reference)
            if ok:
                result.completed += 1
            else:
                result.failed += 1
    finally:
        sf1.session.close()
        sf2.session.close()
    result.wall_s = time.perf_counter() - started
    return result


def _reference_data(
    spec: MappingSpec, sf2: Salesforce, result: BaselineResult
) -> ReferenceData | None:
    """V2's users and record types, read once (even a naive script would not read them per
    record; the comparison is about the migration's own calls)."""
    if not spec.needs_reference_data:
        return None
    users_soql, types_soql = reference_queries(spec)
    users = sf2.query_all(users_soql)["records"]
    types = sf2.query_all(types_soql)["records"]
    result.client_calls += 2
    return ReferenceData.from_rows(spec.owners, users, types, time.time())


def _migrate_one(
    spec: MappingSpec,
    sf1: Salesforce,
    sf2: Salesforce,
    customer_id: str,
    result: BaselineResult,
    reference: ReferenceData | None = None,
) -> bool:
    rows = sf1.query(spec.extract_soql([customer_id]))["records"]
    result.client_calls += 1
    if not rows:
        _count_error(result, "CUSTOMER_NOT_FOUND")
        return False
    plan = transform_customer(spec, rows[0], reference)
    if plan.account_rejected:
        return False
    ok = True
    for sobject, records in plan.records_by_object.items():
        for record in records:
            payload = _without_attributes(record)
            result.client_calls += 1
            try:
                getattr(sf2, sobject).create(payload)
            except SalesforceError as exc:
                ok = False
                result.record_errors += 1
                _count_error(result, _error_code(exc))
            else:
                result.records_created += 1
    return ok


def _without_attributes(record: dict[str, Any]) -> dict[str, Any]:
    """sObject create takes plain fields; the collections-style "attributes" key is not one."""
    return {k: v for k, v in record.items() if k != "attributes"}


def _error_code(exc: SalesforceError) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", type(exc).__name__))
    return type(exc).__name__


def _count_error(result: BaselineResult, code: str) -> None:
    result.errors_by_code[code] = result.errors_by_code.get(code, 0) + 1

"""The session's seeded V1 customers, handed out in disjoint slices: every test takes its own, so
its V2 checks never overlap another test's."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from simple_salesforce import Salesforce

from devstack.stack import DevStack
from tests.integration.pipeline.orgs import admin, login

# The session's seeded customers are shared by modules: the last RESERVED_FOR_SMALL_TESTS belong
# to the foundation and CLI tests (each takes its own index), the rest to the pipeline pool.
RESERVED_FOR_SMALL_TESTS = 4
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class CustomerPool:
    """The seeded V1 customers; every test takes its own, so V2 checks never overlap.

    Customers with one specific kind of dirty data are reserved for the data-quality test.
    """

    free: list[str]
    dirty: dict[str, tuple[str, str]] = field(default_factory=dict)  # kind -> (customer, record)

    def take(self, n: int) -> list[str]:
        if len(self.free) < n:
            raise AssertionError(
                f"customer pool exhausted: {n} wanted, {len(self.free)} left; "
                "raise MIGRATION_TEST_CUSTOMERS"
            )
        taken, self.free = self.free[:n], self.free[n:]
        return taken


def _find_dirty(sf1: Salesforce, customers: list[str]) -> dict[str, tuple[str, str]]:
    """One customer per dirty-data kind, read from V1 itself (not through the app's transform)."""
    found: dict[str, tuple[str, str]] = {}
    contacts = sf1.query_all("SELECT Id, AccountId, LastName, Email FROM Contact")["records"]
    cases = sf1.query_all("SELECT Id, AccountId, Description FROM Case")["records"]
    for c in contacts:
        if not c["LastName"] and "missing_last_name" not in found:
            found["missing_last_name"] = (c["AccountId"], c["Id"])
    for c in contacts:
        taken = {cid for cid, _ in found.values()}
        email = c["Email"]
        if c["LastName"] and email and not _EMAIL.match(email) and c["AccountId"] not in taken:
            found.setdefault("invalid_email", (c["AccountId"], c["Id"]))
    for c in cases:
        taken = {cid for cid, _ in found.values()}
        if len(c["Description"] or "") > 4000 and c["AccountId"] not in taken:
            found.setdefault("long_description", (c["AccountId"], c["Id"]))
    customers_set = set(customers)
    return {kind: v for kind, v in found.items() if v[0] in customers_set}


def make_customer_pool(devstack: DevStack) -> CustomerPool:
    """The session's pool (the ``customer_pool`` fixture, tests/integration/conftest.py: one
    pool shared by the pipeline and console tests, so they never take the same customers)."""
    assert devstack.sf1 is not None, "the pipeline tests need the sandbox orgs"
    customers = admin(devstack.sf1.url, "customers")[:-RESERVED_FOR_SMALL_TESTS]
    dirty = _find_dirty(login(devstack.sf1.url, "v1"), customers)
    reserved = {cid for cid, _ in dirty.values()}
    return CustomerPool([c for c in customers if c not in reserved], dirty)

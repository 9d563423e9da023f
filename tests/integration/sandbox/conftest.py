"""Sandbox orgs served in-process (background thread, own loop, ephemeral port) and
simple-salesforce clients logged in to them through migration_app.salesforce.http."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from simple_salesforce import Salesforce

from devstack.sandbox import SandboxConfig, SandboxThread
from tests.integration.sandbox.support import V1_CUSTOMERS, admin, login


@pytest.fixture(scope="module")
def v1() -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig(org="v1", port=0, customers=V1_CUSTOMERS, seed=7)) as sb:
        yield sb


@pytest.fixture
def v2() -> Iterator[SandboxThread]:
    """A fresh, empty V2 org per test (writes never leak between tests)."""
    config = SandboxConfig(org="v2", port=0, extra_external_ids=("Account.Customer_Number__c",))
    with SandboxThread(config) as sb:
        yield sb


@pytest.fixture
def sf1(v1: SandboxThread) -> Salesforce:
    return login(v1)


@pytest.fixture
def sf2(v2: SandboxThread) -> Salesforce:
    return login(v2)


@pytest.fixture
def admin_call() -> Callable[..., object]:
    return admin

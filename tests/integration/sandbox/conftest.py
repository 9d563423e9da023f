"""Sandbox orgs served in-process (background thread, own loop, ephemeral port) and
simple-salesforce clients logged in to them through migration_app.salesforce_http."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests
from simple_salesforce import Salesforce

from devstack.sandbox import SandboxConfig, SandboxThread
from migration_app.salesforce_http import HttpSettings, build_session, login_domain_for

V1_CUSTOMERS = 40
FAST = HttpSettings(connect_timeout=2.0, read_timeout=10.0)


def login(sandbox: SandboxThread, settings: HttpSettings = FAST) -> Salesforce:
    cfg = sandbox.state.org.config
    return Salesforce(
        username=cfg.username,
        password=cfg.password,
        security_token=cfg.security_token,
        domain=login_domain_for(sandbox.url),
        session=build_session(settings, sandbox.url),
    )


def admin(sandbox: SandboxThread, method: str, path: str, body: object = None) -> object:
    resp = requests.request(method, f"{sandbox.url}/__admin/{path}", json=body, timeout=5)
    resp.raise_for_status()
    return resp.json()


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

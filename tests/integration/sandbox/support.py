"""Helpers of the sandbox tests: log in with simple-salesforce, call the admin API.

A module of its own (imported as ``tests.integration.sandbox.support``), not the conftest: a
``from conftest import ...`` resolves to whichever conftest pytest imported last, which depends
on the directories and order of the run.
"""

from __future__ import annotations

from pathlib import Path

import requests
from simple_salesforce import Salesforce

from devstack.sandbox import SandboxThread
from migration_app.salesforce.http import HttpSettings, build_session, login_domain_for

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


def login_jwt(
    sandbox: SandboxThread, username: str, private_key: Path, settings: HttpSettings = FAST
) -> Salesforce:
    """A session as `username` through the JWT bearer flow (the org needs `jwt_cert`): any
    active user of the org, e.g. an agent of reference_data.agents(org)."""
    cfg = sandbox.state.org.config
    return Salesforce(
        username=username,
        consumer_key=cfg.client_id,
        privatekey_file=str(private_key),
        domain=login_domain_for(sandbox.url),
        session=build_session(settings, sandbox.url),
    )


def login_as(sandbox: SandboxThread, username: str, settings: HttpSettings = FAST) -> Salesforce:
    """A session as `username` (any active user of the org) from the sandbox's admin API, for an
    org without a JWT certificate (e.g. to edit V1 records as an agent)."""
    token = admin(sandbox, "POST", "sessions", {"username": username})
    assert isinstance(token, dict)
    return Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        session=build_session(settings, sandbox.url),
    )


def admin(sandbox: SandboxThread, method: str, path: str, body: object = None) -> object:
    resp = requests.request(method, f"{sandbox.url}/__admin/{path}", json=body, timeout=5)
    resp.raise_for_status()
    return resp.json()

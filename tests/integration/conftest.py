"""Everything under tests/integration is marked ``integration``: it needs real services.

Real services means the session devstack (broker, PostgreSQL, registry, sandbox orgs), a child
process or an in-process server on a socket. ``pytest -m "not integration"`` runs the fast suite.
Marked here once, by path, so a new test module cannot forget it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import DevStack
from tests.integration.pipeline.customers import CustomerPool, make_customer_pool
from tests.support.postgres import StoppablePostgres

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A conftest hook sees every collected item, not only this directory's: filter by path.
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def customer_pool(devstack: DevStack) -> CustomerPool:
    """The seeded V1 customers, handed out once per session (pipeline and console tests)."""
    return make_customer_pool(devstack)


@pytest.fixture
def stoppable_postgres() -> Iterator[StoppablePostgres]:
    """A private PostgreSQL the test may stop and start (audit recovery, pipeline outage tests).

    Not under pytest's basetemp: as root, pgserver runs PostgreSQL as user ``pgserver``, which
    must traverse the parent directories, and any pytest session on the machine chmods
    /tmp/pytest-of-root back to 0700, so a restart would fail with "Permission denied"."""
    parent = Path(tempfile.mkdtemp(prefix="e2e-pg-"))
    try:
        server = StoppablePostgres(parent / "pgdata")
        try:
            yield server
        finally:
            server.close()
    finally:
        shutil.rmtree(parent, ignore_errors=True)

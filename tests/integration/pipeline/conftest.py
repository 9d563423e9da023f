"""Fixtures of the end-to-end pipeline tests: real workers, broker, PostgreSQL, registry, sandboxes.

The session devstack (tests/conftest.py) is shared by every test, and so are its V1 customers and
its V2 org. Each test therefore takes its own disjoint customers from ``customer_pool`` and checks
V2 only for those customers' Legacy_Id__c values, so tests never depend on each other's V2 state.

Fixtures only; the helpers are the modules beside this one: harness.py (what a test does to the
stack and reads back), worker_pool.py (the workers), worker_probes.py (a worker's views, metrics
and log), customers.py (the pool), orgs.py (the sandbox orgs), topics.py (the broker's topics),
audit_rows.py (the audit database), expectations.py (assertions several test modules share).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.probes import free_port
from devstack.process import ChildProcess
from devstack.stack import DevStack, DevStackConfig, registry_process
from migration_app.settings import Settings
from tests.integration.pipeline.harness import StackHarness
from tests.integration.pipeline.orgs import NO_FAULTS, admin, login
from tests.integration.pipeline.worker_pool import WorkerPool


@pytest.fixture
def harness(devstack: DevStack) -> Iterator[StackHarness]:
    """A StackHarness on the session stack; sandbox faults are reset after the test."""
    assert devstack.sf1 is not None and devstack.sf2 is not None
    settings = Settings.from_env(devstack.env())
    harness = StackHarness(
        devstack, settings, login(devstack.sf1.url, "v1"), login(devstack.sf2.url, "v2")
    )
    try:
        yield harness
    finally:
        harness.close()
        for sandbox in (devstack.sf1, devstack.sf2):
            admin(sandbox.url, "faults", NO_FAULTS)


@pytest.fixture(scope="module")
def workers(devstack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerPool]:
    pool = WorkerPool(devstack, tmp_path_factory.mktemp("pipeline-workers"))
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture
def shared_worker(workers: WorkerPool) -> ChildProcess:
    """The module's shared worker (started if needed)."""
    return workers.shared()


@pytest.fixture
def exclusive_worker(workers: WorkerPool) -> Iterator[Callable[..., ChildProcess]]:
    """Start workers that are alone in the group; all stopped when the test ends."""
    yield workers.exclusive
    workers.stop_exclusive()


# --- a schema registry this test may stop and start -------------------------------------------


@pytest.fixture
def private_registry(devstack: DevStack, tmp_path: Path) -> Iterator[Callable[[], ChildProcess]]:
    """Start a registry process of the test's own (stopping the session's would break the other
    tests), from a copy of the session registry's data file as it is at the call, so every schema
    id registered so far means the same in both: result events a worker encodes through it decode
    through the session registry. Stopped at teardown."""
    assert devstack.registry is not None, "the pipeline tests need the schema registry"
    started: list[ChildProcess] = []

    def start() -> ChildProcess:
        state_dir = tmp_path / f"private-registry{len(started)}"
        state_dir.mkdir()
        shutil.copyfile(devstack.config.state_dir / "registry.json", state_dir / "registry.json")
        registry = registry_process(DevStackConfig(registry_port=free_port(), state_dir=state_dir))
        started.append(registry)
        registry.start()
        return registry

    try:
        yield start
    finally:
        for registry in started:
            registry.stop()

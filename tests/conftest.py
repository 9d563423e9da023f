"""Shared fixtures: one dev stack per test session, and workers started against it.

The stack uses a temporary state dir and ports no other process can take, so tests never clash
with a running `make dev` or another test session: the registry and sandbox orgs bind port 0 and
report the port they got; the broker and workers, which cannot report one, get a port from
devstack.probes.free_port (below the kernel's ephemeral range, reserved by a lock file).
PostgreSQL: MIGRATION_TEST_DATABASE_URL if set, else an embedded pgserver.

Fixtures and hooks only: what tests share besides them is in tests/support/ (never import a
conftest).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.dev import worker_process
from devstack.probes import free_port
from devstack.process import ChildProcess
from devstack.stack import DevStack, DevStackConfig
from tests.support.workers import DEBUG_TOKEN, FAST_GROUP_ENV

DEPLOY_DIR = Path(__file__).resolve().parent / "deploy"
# A deploy check shells out when it uses a fixture that runs a tool, or calls one itself.
_TOOL_FIXTURES = {"kubectl", "rendered_text", "rendered", "checkov_report"}
_TOOL_CALLS = ("run_tool(", "require_tool(", "subprocess.")


def _shells_out(item: pytest.Item) -> bool:
    if _TOOL_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    function = getattr(item, "function", None)
    try:
        source = inspect.getsource(function) if function else ""
    except (OSError, TypeError):
        return False
    return any(call in source for call in _TOOL_CALLS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """tests/deploy checks that run kubectl, checkov, hadolint, pip or the CLI: ``deploy``."""
    for item in items:
        if DEPLOY_DIR in item.path.resolve().parents and _shells_out(item):
            item.add_marker(pytest.mark.deploy)


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.fixture(scope="session")
def devstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    state_dir = tmp_path_factory.mktemp("devstack")
    config = DevStackConfig(
        broker_port=free_port(),  # Tansu cannot report a port it picked: a reserved one
        registry_port=0,  # these bind a port the kernel picks and report it (READY line)
        sf1_port=0,
        sf2_port=0,
        database_url=os.environ.get("MIGRATION_TEST_DATABASE_URL", ""),
        state_dir=state_dir,
        customers=int(os.environ.get("MIGRATION_TEST_CUSTOMERS", "300")),
        with_registry=_has("devstack.registry_server.__main__"),
        with_sandbox=_has("devstack.sandbox.__main__"),
        # Seeded files stay small (1-64 KB): every test that migrates a customer with files
        # copies them, and the dev default (4 KB-4 MB) made the integration suite much slower;
        # the files e2e uploads a multi-MB file of its own.
        sandbox_file_kb="1:64",
        # V1 may be given an account hierarchy loop (the cycle e2e); V2 refuses one
        sandbox_v1_hierarchy_loops=True,
    )
    with DevStack(config) as stack:
        yield stack


@pytest.fixture
def start_worker(devstack: DevStack, tmp_path: Path) -> Iterator[Callable[..., ChildProcess]]:
    """Start `migration-app worker` processes against the dev stack; all stopped at teardown."""
    workers: list[ChildProcess] = []

    def start(ready_path: str = "/health/ready", **env: str) -> ChildProcess:
        index = len(workers)
        full_env = {
            **devstack.env(),
            **FAST_GROUP_ENV,
            "MIGRATION_DATA_DIR": str(tmp_path / f"worker{index}-data"),
            "MIGRATION_DEBUG_TOKEN": DEBUG_TOKEN,
            "MIGRATION_MONITOR_PORT": str(free_port()),
            "MIGRATION_MONITOR_CONSOLE_PORT": str(free_port()),
            "MIGRATION_MONITOR_WEBUI_PORT": str(free_port()),
            **env,
        }
        worker = worker_process(
            full_env,
            web_port=free_port(),
            log_dir=tmp_path,
            name=f"worker{index}",
            ready_path=ready_path,
        )
        workers.append(worker)
        worker.start()
        return worker

    yield start
    for worker in reversed(workers):
        worker.stop()

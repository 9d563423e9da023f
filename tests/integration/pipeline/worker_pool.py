"""The pipeline tests' workers, as deployed (RocksDB tables, the console behind its tokens): one
shared worker for most tests, or one exclusive worker at a time."""

from __future__ import annotations

import time
from pathlib import Path

from devstack.dev import worker_process
from devstack.probes import free_port
from devstack.process import ChildProcess
from devstack.stack import DevStack
from tests.support.workers import DEBUG_TOKEN, FAST_GROUP_ENV

# The production configuration (DESIGN rule 11): RocksDB tables, the console closed behind its
# tokens. Tests where the store matters also run with memory:// (their ``store`` parameter).
# Short batches for speed; no aiomonitor (ports and start-up time are not under test here).
READ_TOKEN = "pipeline-read-token-0123456789abcdefgh"
OPERATOR_TOKEN = "pipeline-operator-token-0123456789abcd"
WORKER_ENV = {
    "MIGRATION_BATCH_WITHIN": "0.2",
    "MIGRATION_MONITOR_ENABLED": "false",
    "MIGRATION_STORE": "rocksdb://",
    "MIGRATION_CONSOLE_READ_TOKEN": READ_TOKEN,
    "MIGRATION_OPERATOR_TOKEN": OPERATOR_TOKEN,
}
READY_PATH = "/health/ready"  # partitions assigned, tables recovered, dependencies up


class WorkerPool:
    """The module's workers: one shared worker for most tests, or one exclusive at a time.

    Why: every worker start is a group join and a table recovery (seconds each), and tests
    that kill a worker or point it at another database must be the only consumer in the
    group. ``shared()`` reuses a running shared worker; ``exclusive(**env)`` stops it first.
    """

    def __init__(self, devstack: DevStack, log_dir: Path) -> None:
        self.devstack = devstack
        self.log_dir = log_dir
        self._shared: ChildProcess | None = None
        self._exclusive: list[ChildProcess] = []

    def _start(self, name: str, env: dict[str, str], ready_path: str = READY_PATH) -> ChildProcess:
        full_env = {
            **self.devstack.env(),
            **FAST_GROUP_ENV,
            **WORKER_ENV,
            "MIGRATION_DATA_DIR": str(self.log_dir / f"{name}-data"),
            "MIGRATION_DEBUG_TOKEN": DEBUG_TOKEN,
            **env,
        }
        worker = worker_process(
            full_env, web_port=free_port(), log_dir=self.log_dir, name=name, ready_path=ready_path
        )
        worker.start()
        return worker

    def shared(self) -> ChildProcess:
        self.stop_exclusive()
        if self._shared is None or not self._shared.running():
            self._shared = self._start(f"shared{time.monotonic_ns()}", {})
        return self._shared

    def exclusive(self, *, ready_path: str = READY_PATH, **env: str) -> ChildProcess:
        """A fresh worker, the only one in the group (stopped by ``stop_exclusive``).
        ``ready_path``: what its start waits for (``/health/live`` for a worker that may get
        no partition, e.g. the fourth of a group whose assignor gives it none)."""
        if self._shared is not None:
            self._shared.stop()
            self._shared = None
        worker = self._start(f"exclusive{len(self._exclusive)}", env, ready_path)
        self._exclusive.append(worker)
        return worker

    def stop_exclusive(self) -> None:
        while self._exclusive:
            self._exclusive.pop().stop()

    def stop(self) -> None:
        self.stop_exclusive()
        if self._shared is not None:
            self._shared.stop()
            self._shared = None

"""The test workers (`migration-app worker` child processes): what each is given, and how a test
asks one why it is stuck."""

from __future__ import annotations

import urllib.request

from devstack.process import ChildProcess

# Workers serve /debug/pprof/* to the tests' failure reports (tokens have 32+ characters).
DEBUG_TOKEN = "test-debug-token-0123456789abcdef"

# A fast consumer group: a stopped or killed worker's partitions move within seconds.
FAST_GROUP_ENV = {
    "MIGRATION_BROKER_SESSION_TIMEOUT": "2",
    "MIGRATION_BROKER_HEARTBEAT_INTERVAL": "0.3",
    "MIGRATION_BROKER_REBALANCE_TIMEOUT": "2",
}


def task_dump(worker: ChildProcess) -> str:
    """The worker's asyncio tasks grouped by stack (pprof style): why is it stuck?"""
    request = urllib.request.Request(
        f"{worker.url}/debug/pprof/tasks?debug=1",
        headers={"Authorization": f"Bearer {DEBUG_TOKEN}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read().decode(errors="replace")
    except OSError as exc:
        return f"(no task dump: {exc})"

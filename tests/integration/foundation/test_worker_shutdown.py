"""SIGTERM ends a worker within the pod's grace period even when its broker is gone.

Without a broker, Faust's stop used to wait 60 s on the consumer thread (aiokafka's fetcher close
re-raises the cancellation of a fetch that was backing off, so the thread never reports that it
stopped and mode waits out its 60 s shutdown timeout); ``MIGRATION_SHUTDOWN_TIMEOUT`` bounds every
such wait. The broker here is the test's own, so killing it leaves the session's stack alone.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.probes import free_port
from devstack.process import ChildProcess
from devstack.stack import DevStackConfig, broker_process
from migration_app.ops.shutdown import FORCED_EXIT_CODE
from migration_app.settings import Settings
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

STATEFULSET = Path(__file__).parents[3] / "deploy" / "k8s" / "base" / "statefulset.yaml"


def grace_period() -> float:
    """terminationGracePeriodSeconds of the worker's pod: the time SIGTERM has before SIGKILL."""
    match = re.search(r"terminationGracePeriodSeconds:\s*(\d+)", STATEFULSET.read_text())
    assert match, STATEFULSET
    return float(match.group(1))


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[ChildProcess]:
    broker = broker_process(DevStackConfig(broker_port=free_port(), state_dir=tmp_path / "broker"))
    broker.start()
    yield broker
    broker.stop()


def _sigterm_with_broker_gone(
    start_worker: Callable[..., ChildProcess], broker: ChildProcess, **env: str
) -> tuple[ChildProcess, float, int]:
    """Start a worker on ``broker``, SIGKILL the broker, wait until the worker has noticed,
    SIGTERM the worker: (worker, seconds until it exited, exit status)."""
    worker = start_worker(MIGRATION_BROKER_URL=broker.url, **env)
    broker.kill()
    wait_for(lambda: "Unable connect to node" in worker.log_path.read_text(), timeout=30)
    sent = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    deadline = sent + grace_period()
    while worker.returncode is None and time.monotonic() < deadline:
        time.sleep(0.1)  # polling interval of a deadline loop
    elapsed = time.monotonic() - sent
    code = worker.returncode
    assert code is not None, (
        f"worker still running {elapsed:.0f}s after SIGTERM (grace period {grace_period()}s); "
        f"log tail:\n{worker.log_tail(80)}"
    )
    return worker, elapsed, code


def test_default_shutdown_timeout_is_below_the_grace_period() -> None:
    assert Settings().shutdown_timeout < grace_period()


def test_sigterm_with_the_broker_gone_exits_within_the_grace_period(
    start_worker: Callable[..., ChildProcess], own_broker: ChildProcess
) -> None:
    worker, elapsed, _code = _sigterm_with_broker_gone(start_worker, own_broker)
    print(f"exit {elapsed:.1f}s after SIGTERM with the broker gone (default settings)")
    assert elapsed < grace_period()
    assert "shutdown: the worker exits within" in worker.log_path.read_text()


def test_shutdown_timeout_bounds_the_exit_and_logs_what_was_pending(
    start_worker: Callable[..., ChildProcess], own_broker: ChildProcess
) -> None:
    timeout = 5.0
    worker, elapsed, code = _sigterm_with_broker_gone(
        start_worker, own_broker, MIGRATION_SHUTDOWN_TIMEOUT=str(timeout)
    )
    print(f"exit {elapsed:.1f}s after SIGTERM with MIGRATION_SHUTDOWN_TIMEOUT={timeout}")
    assert elapsed < timeout + 10, worker.log_tail(80)
    if code == FORCED_EXIT_CODE:  # the stop hung on the broker: the guard ended it
        log = worker.log_path.read_text()
        assert "forcing exit" in log
        assert "task profile: total" in log  # the pending tasks, grouped by stack
        assert "thread profile: total" in log

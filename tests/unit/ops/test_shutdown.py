"""The shutdown guard: a stop that hangs ends at the deadline, saying what was pending; a stop
that finishes is not held up by it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from migration_app.ops.shutdown import FORCED_EXIT_CODE, ShutdownGuard, guarded_worker

SCRIPT = textwrap.dedent(
    """
    import asyncio, logging, sys
    from migration_app.ops.shutdown import ShutdownGuard

    logging.basicConfig(level=logging.INFO)

    async def commit_waiting_for_a_dead_broker():
        await asyncio.Event().wait()

    async def main(hang):
        ShutdownGuard(0.5).arm(asyncio.get_running_loop())
        if hang:
            await commit_waiting_for_a_dead_broker()

    asyncio.run(main(sys.argv[1] == "hang"))
    """
)


def _run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60
    )


def test_a_hanging_stop_is_ended_at_the_deadline_with_the_pending_tasks_logged() -> None:
    result = _run("hang")
    assert result.returncode == FORCED_EXIT_CODE, result.stderr
    assert "forcing exit" in result.stderr
    assert "task profile: total" in result.stderr
    assert "commit_waiting_for_a_dead_broker" in result.stderr  # the stuck coroutine, by name
    assert "thread profile: total" in result.stderr
    assert '"MainThread"' in result.stderr


def test_a_stop_that_finishes_exits_normally() -> None:
    result = _run("finish")
    assert result.returncode == 0, result.stderr
    assert "forcing exit" not in result.stderr


def test_arming_twice_keeps_the_first_deadline() -> None:
    guard = ShutdownGuard(3600.0)
    guard.arm()
    first = guard._armed_at
    guard.arm()
    assert guard.armed and guard._armed_at == first


def test_the_app_worker_class_arms_the_guard_on_stop() -> None:
    import faust

    worker_class = guarded_worker(12.5)
    assert issubclass(worker_class, faust.Worker)
    assert "on_stop" in vars(worker_class)

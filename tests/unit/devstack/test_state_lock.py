"""One dev stack per state directory: a second start fails clearly, a dead holder frees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.process import StartError
from devstack.state_lock import StateDirLock


def test_a_second_stack_on_the_same_state_dir_is_refused_naming_the_holder(
    tmp_path: Path,
) -> None:
    first = StateDirLock(tmp_path)
    first.acquire()
    with pytest.raises(StartError, match=rf"in use by a running dev stack \(pid {os.getpid()}\)"):
        StateDirLock(tmp_path).acquire()
    first.release()
    again = StateDirLock(tmp_path)
    again.acquire()  # released at stop: the next start gets it
    again.release()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = (
        "import sys, time; from pathlib import Path; from devstack.state_lock import StateDirLock;"
        "lock = StateDirLock(Path(sys.argv[1])); lock.acquire();"
        "print('held', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(StartError, match=f"pid {child.pid}"):
            StateDirLock(tmp_path).acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    lock = StateDirLock(tmp_path)
    lock.acquire()  # the kernel dropped the flock with the process: no stale lock file matters
    lock.release()

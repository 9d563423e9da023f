"""Ctrl-C while a dev service is still starting stops it at once (it waited out the service's
whole start timeout, up to minutes, before the signal took effect)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from devstack.process import ChildProcess, StartInterrupted


def test_a_cancelled_start_stops_the_child_within_a_second(tmp_path: Path) -> None:
    never_ready = ChildProcess(
        "slow",
        [sys.executable, "-c", "import time; time.sleep(120)"],
        url="-",
        ready=lambda: False,
        log_dir=tmp_path,
        start_timeout=120,
    )
    cancel = threading.Event()
    pids: list[int | None] = []

    def ctrl_c() -> None:
        pids.append(never_ready.pid)
        cancel.set()

    timer = threading.Timer(0.5, ctrl_c)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(StartInterrupted, match="stopped while slow was starting"):
            never_ready.start(cancel)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5
    assert pids and pids[0] is not None
    assert not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == "zombie"

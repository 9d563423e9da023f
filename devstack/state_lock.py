"""One dev stack per state directory.

Why: two stacks on one ``.devstack`` share its embedded PostgreSQL (pgserver runs one server per
data directory), so the second one's failure or Ctrl-C stops the first one's database, and the
first worker then waits for it forever. The lock turns that into a clear error at start.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from devstack.process import StartError


class StateDirLock:
    """An exclusive ``flock`` on ``<state_dir>/.lock``, released at stop or by the kernel when
    the process dies (kill -9 included), so a stale lock never blocks the next start."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / ".lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StartError(
                f"{self.path.parent} is in use by a running dev stack (pid {holder}): stop it "
                "first, or give this one its own --state-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

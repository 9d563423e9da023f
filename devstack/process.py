"""A child process with a readiness check and a clean, orphan-free stop.

Each dev service (broker, PostgreSQL runner, registry, sandbox orgs, worker) is one of these. The
child gets PR_SET_PDEATHSIG so it dies with us even if we are killed with SIGKILL, runs in its own
session so a terminal's Ctrl-C reaches only us (we stop children in order), and logs to a file.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: ask the kernel for SIGTERM when the parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: fall back to the parent's own cleanup
        pass


class StartError(RuntimeError):
    """A dev service did not become ready; the message points at its log file."""


class ChildProcess:
    """One dev service run as a child process.

    ``ready`` is polled until it returns True or ``start_timeout`` passes; it must itself be quick
    and bounded (a socket connect with a timeout, an HTTP GET with a timeout).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        url: str,
        ready: Callable[[], bool],
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.url = url
        self._ready = ready
        self.log_path = log_dir / f"{name}.log"
        self._env = dict(os.environ if env is None else env)
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as logfile:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                env=self._env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise StartError(
                    f"{self.name} exited with {self._proc.returncode} during start; "
                    f"see {self.log_path}:\n{self.log_tail()}"
                )
            if self._ready():
                log.info("%s ready at %s (pid %s)", self.name, self.url, self._proc.pid)
                return
            time.sleep(0.1)  # polling interval of a deadline loop in a sync start-up path
        self.stop()
        raise StartError(f"{self.name} not ready after {self._start_timeout}s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM, wait, then SIGKILL: never leaves the process behind."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(self._stop_timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %ss, killing it", self.name, self._stop_timeout)
            proc.kill()
            proc.wait(5)

    def kill(self) -> None:
        """SIGKILL now (crash tests)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

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
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from devstack.probes import listener_pids, owns_listener, process_name

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


class StartInterrupted(StartError):
    """Ctrl-C (or SIGTERM) while a service was still starting: it was stopped, not failed."""


class ChildProcess:
    """One dev service run as a child process.

    ``ready`` is polled until it returns True or ``start_timeout`` passes; it must itself be quick
    and bounded (a socket connect with a timeout, an HTTP GET with a timeout). With ``port`` set,
    ready also needs the child itself to listen on it: a probe that succeeds against another
    process already on that port (a second broker) must not count as our child being ready.
    After ready the child must stay alive for ``settle`` seconds (a crash right after binding).
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
        port: int | None = None,
        settle: float = 0.3,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.url = url
        self._ready = ready
        self.log_path = log_dir / f"{name}.log"
        self._env = dict(os.environ if env is None else env)
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self.port = port
        self._settle = settle
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        """The exit status once the child has exited on its own (None while it runs)."""
        return self._proc.poll() if self._proc else None

    def send_signal(self, sig: int) -> None:
        """Signal the child (shutdown tests: SIGTERM as Kubernetes sends it)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(sig)

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def exited(self) -> bool:
        """True when the child died on its own (not stopped by us: ``stop`` forgets it)."""
        return self._proc is not None and self._proc.poll() is not None

    def exit_report(self, context: str = "") -> str:
        """'<name> exited with code N<context>; see <log>:' and the log's tail (supervisor)."""
        code = self._proc.returncode if self._proc is not None else None
        how = f"code {code}"
        if code is not None and code < 0:
            try:
                how += f" ({signal.Signals(-code).name})"
            except ValueError:
                pass
        return f"{self.name} exited with {how}{context}; see {self.log_path}:\n{self.log_tail()}"

    def _is_ready(self) -> bool:
        if not self._ready():
            return False
        return self.port is None or owns_listener(self._proc.pid if self._proc else 0, self.port)

    def start(self, cancel: threading.Event | None = None) -> None:
        """Start and wait until ready; ``cancel`` set meanwhile stops it (``StartInterrupted``)."""
        cancel = cancel or threading.Event()
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
                raise StartError(self._exit_during_start())
            if self._is_ready():
                self._wait_settled()
                log.info("%s ready at %s (pid %s)", self.name, self.url, self._proc.pid)
                return
            if cancel.wait(0.1):  # the polling interval of this deadline loop
                self.stop()
                raise StartInterrupted(f"stopped while {self.name} was starting")
        holder = self._port_holder()
        self.stop()
        raise StartError(
            f"{self.name} not ready after {self._start_timeout}s{holder}; see {self.log_path}"
        )

    def _wait_settled(self) -> None:
        """Raise if the child exits within the settle window (a wait with a deadline, returning
        as soon as the child exits)."""
        assert self._proc is not None
        try:
            self._proc.wait(self._settle)
        except subprocess.TimeoutExpired:
            return
        raise StartError(self._exit_during_start())

    def _exit_during_start(self) -> str:
        return self.exit_report(f" during start{self._port_holder()}")

    def _port_holder(self) -> str:
        """' (port P is in use by pid X (cmd))' when another process listens on our port: the
        usual reason a service dies during start."""
        if self.port is None:
            return ""
        own = self._proc.pid if self._proc else None
        others = [pid for pid in listener_pids(self.port) if pid != own]
        if not others:
            return ""
        names = ", ".join(f"pid {pid} ({process_name(pid)})" for pid in sorted(others))
        return f" (port {self.port} is in use by {names})"

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

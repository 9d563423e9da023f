"""The benchmark's probes: the worker and the stack read while they run (RSS, CPU seconds,
asyncio tasks, loop lag, readiness, the summary view), the sandbox's call counters, the worker's
CPU profile, and the machine the run was on. Synchronous and bounded: every HTTP call has a
timeout, every poll a deadline."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from devstack.process import ChildProcess
from devstack.stack import DevStack

HTTP_TIMEOUT = 5.0


# -- small HTTP helpers (bounded; the benchmark itself is synchronous) --------------------------
def http_text(url: str, timeout: float = HTTP_TIMEOUT) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def http_json(url: str, *, method: str = "GET", timeout: float = HTTP_TIMEOUT) -> Any:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # /health answers 503 with a JSON body when degraded
        return json.loads(exc.read() or b"null")


class SandboxAdmin:
    """The sandbox org's /__admin endpoints (call counts, seeded customers, record counts)."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")

    def stats(self) -> dict[str, Any]:
        return http_json(f"{self.base}/__admin/stats")

    def reset(self) -> None:
        http_json(f"{self.base}/__admin/stats/reset", method="POST")

    def customers(self) -> list[str]:
        return http_json(f"{self.base}/__admin/customers", timeout=30)

    def counts(self) -> dict[str, int]:
        return http_json(f"{self.base}/__admin/counts")


# -- CPU, RSS and the worker's own view -------------------------------------------------------
def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU time of one process."""
    times = proc.cpu_times()
    return times.user + times.system


class WorkerProbe:
    """RSS and asyncio task count of the worker process, read while it runs."""

    def __init__(self, worker: ChildProcess) -> None:
        assert worker.pid is not None
        self.proc = psutil.Process(worker.pid)
        self.url = worker.url
        self.log_path = worker.log_path
        self.peak_rss = 0
        self.max_loop_lag_ms: float | None = None

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            rss = sum(p.memory_info().rss for p in [self.proc, *self.proc.children(True)])
            self.peak_rss = max(self.peak_rss, rss)

    def vm_hwm(self) -> int | None:
        """Kernel-kept peak RSS of the worker process (VmHWM), bytes."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return None

    def tasks(self) -> int | None:
        """The "tasks" field of /health, or None while the worker has no such field."""
        try:
            doc = http_json(f"{self.url}/health", timeout=10)
        except (OSError, ValueError):
            return None
        value = doc.get("tasks") if isinstance(doc, dict) else None
        return value if isinstance(value, int) else None

    def consuming(self) -> bool:
        """Partitions assigned and the worker started: /health/ready when the worker has it,
        else Faust's "[^Worker]: Ready" log line (logged after assignment and recovery)."""
        with contextlib.suppress(OSError, ValueError):
            doc = http_json(f"{self.url}/health/ready", timeout=2)
            if isinstance(doc, dict) and "assigned_partitions" in doc:
                return doc.get("status") == "UP" and bool(doc["assigned_partitions"])
        return "[^Worker]: Ready" in self.log_path.read_text(errors="replace")

    def summary(self) -> dict[str, Any]:
        return http_json(f"{self.url}/migrations/summary")

    def cpu_seconds(self) -> float:
        """The worker process's own CPU time: the sandbox's is Salesforce's."""
        return cpu_seconds(self.proc)

    def sample_loop_lag(self) -> None:
        """The event-loop lag /health/live reports now; the run keeps the worst seen."""
        with contextlib.suppress(OSError, ValueError):
            doc = http_json(f"{self.url}/health/live", timeout=2)
            lag = doc.get("loop_lag_ms") if isinstance(doc, dict) else None
            if isinstance(lag, int | float):
                self.max_loop_lag_ms = max(self.max_loop_lag_ms or 0.0, float(lag))


class StackCpu:
    """CPU seconds of the stack's own processes (sandbox orgs, broker, registry, PostgreSQL when
    embedded) over the measured window: on a 2-core machine they compete with the worker."""

    def __init__(self, stack: DevStack) -> None:
        self.procs: dict[str, psutil.Process] = {}
        for child in stack.processes:
            if child.pid is not None:
                with contextlib.suppress(psutil.Error):
                    self.procs[child.name] = psutil.Process(child.pid)
        self._start = self._read()

    def _read(self) -> dict[str, float]:
        out = {}
        for name, proc in self.procs.items():
            with contextlib.suppress(psutil.Error):
                tree = [proc, *proc.children(recursive=True)]
                out[name] = sum(cpu_seconds(p) for p in tree)
        return out

    def used(self) -> dict[str, float]:
        now = self._read()
        return {name: round(now[name] - self._start.get(name, 0.0), 2) for name in now}


def wait_until(
    predicate: Callable[[], bool], deadline_s: float, every: float = 0.2, what: str = ""
) -> None:
    deadline = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {deadline_s}s waiting for {what}")
        time.sleep(every)


class ProfileFetch:
    """The worker's ``/debug/pprof/profile`` fetched in a thread while the benchmark polls, then
    saved next to the results (collapsed stacks, with the profile's ``#`` header)."""

    def __init__(self, url: str, token: str, seconds: float, path: Path) -> None:
        self.path = path
        self.seconds = seconds
        self.headers: dict[str, str] = {}
        self.error: str | None = None
        self._request = urllib.request.Request(
            f"{url}/debug/pprof/profile?seconds={seconds:g}",
            headers={"Authorization": f"Bearer {token}"},
        )
        self._thread = threading.Thread(target=self._fetch, name="bench-profile", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _fetch(self) -> None:
        try:
            with urllib.request.urlopen(self._request, timeout=self.seconds + 60) as response:
                body = response.read()
                self.headers = {
                    k: v for k, v in response.headers.items() if k.startswith("X-Profile-")
                }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(body)
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def result(self) -> dict[str, Any]:
        """Waits for the profile (bounded by its own length plus a minute)."""
        self._thread.join(self.seconds + 90)
        return {"path": str(self.path), "headers": self.headers, "error": self.error}


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
    ).stdout.strip()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "memory_bytes": psutil.virtual_memory().total,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
    }

"""`migration-app devstack` supervises its children: a service that dies (at start, or while
serving) is named with its exit code and log, the others are stopped and the command fails.

The broker case is the one that slipped through: with the port already taken, the readiness probe
talked to the *other* process on that port while our broker had already exited.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devstack.probes import free_port, postgres_ok
from devstack.stack import DevStackConfig, broker_process
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
EXIT_DEADLINE = 60.0  # generous: a dead child is noticed within a second
UP_DEADLINE = 180.0  # an embedded pgserver (no local PostgreSQL) takes a while to init


def _database_url() -> str:
    """The machine's PostgreSQL if reachable (fast); empty: the devstack starts pgserver."""
    url = os.environ.get("MIGRATION_TEST_DATABASE_URL") or LOCAL_POSTGRES
    return url if postgres_ok(url, timeout=2) else ""


class Supervisor:
    """A `migration-app devstack` subprocess, with every descendant it was seen to have."""

    def __init__(self, tmp_path: Path, broker_port: int) -> None:
        self.stdout_path = tmp_path / "devstack.out"
        self.stderr_path = tmp_path / "devstack.err"
        argv = [sys.executable, "-m", "migration_app", "devstack", "--customers", "3"]
        for option, port in (
            ("--broker-port", broker_port),
            ("--registry-port", free_port()),
            ("--sf1-port", free_port()),
            ("--sf2-port", free_port()),
        ):
            argv += [option, str(port)]
        argv += ["--state-dir", str(tmp_path / "state")]
        env = {
            **os.environ,
            "MIGRATION_DEV_MODE": "true",
            "MIGRATION_DATABASE_URL": _database_url(),
        }
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        self.descendants: dict[int, psutil.Process] = {}

    def collect(self) -> None:
        """Remember the current descendants (psutil.Process objects survive pid reuse)."""
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self.descendants.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_exit(self, timeout: float) -> int:
        """Poll the exit status with a deadline, collecting descendants meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.collect()
            try:
                return self.proc.wait(0.1)
            except subprocess.TimeoutExpired:
                continue
        raise AssertionError(
            f"devstack still running {timeout}s later\nstdout:\n{self.stdout()}\n"
            f"stderr:\n{self.stderr()}"
        )

    def leftovers(self) -> list[str]:
        return [
            f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in self.descendants.values() if _alive(p)
        ]

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for proc in self.descendants.values():
            if _alive(proc):
                proc.kill()


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[list[Supervisor]]:
    started: list[Supervisor] = []
    yield started
    for sup in started:
        sup.cleanup()


@pytest.fixture(params=["listening socket", "second broker"])
def taken_broker_port(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    """A broker port some other process already listens on."""
    if request.param == "listening socket":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            yield sock.getsockname()[1]
        return
    other = broker_process(DevStackConfig(broker_port=free_port(), state_dir=tmp_path / "other"))
    other.start()
    try:
        assert other.port is not None
        yield other.port
    finally:
        other.stop()


def test_devstack_fails_naming_the_broker_when_its_port_is_taken(
    supervisor: list[Supervisor], taken_broker_port: int, tmp_path: Path
) -> None:
    sup = Supervisor(tmp_path, taken_broker_port)
    supervisor.append(sup)

    code = sup.wait_exit(EXIT_DEADLINE)

    stderr = sup.stderr()
    assert code != 0, stderr
    assert "broker exited with code" in stderr, stderr
    assert f"port {taken_broker_port} is in use" in stderr, stderr
    assert "broker.log" in stderr, stderr
    assert "dev services are up" not in sup.stdout()
    wait_for(lambda: not sup.leftovers(), timeout=10)


def test_devstack_notices_a_child_that_dies_while_serving(
    supervisor: list[Supervisor], tmp_path: Path
) -> None:
    sup = Supervisor(tmp_path, free_port())
    supervisor.append(sup)

    def up() -> bool:
        sup.collect()
        assert sup.proc.poll() is None, sup.stderr()
        return "Ctrl-C stops everything." in sup.stdout()

    wait_for(up, timeout=UP_DEADLINE, interval=0.2)
    sup.collect()
    victims = [
        p
        for p in sup.descendants.values()
        if "devstack.sandbox" in p.cmdline() and "v2" in p.cmdline()
    ]
    assert len(victims) == 1, [p.cmdline() for p in sup.descendants.values()]
    others = [p for p in sup.descendants.values() if p is not victims[0]]
    assert others, "the broker, registry and sandbox-v1 run next to sandbox-v2"

    victims[0].kill()
    code = sup.wait_exit(EXIT_DEADLINE)

    stderr = sup.stderr()
    assert code == 1, stderr
    assert "sandbox-v2 exited with code -9 (SIGKILL)" in stderr, stderr
    assert "sandbox-v2.log" in stderr, stderr
    wait_for(lambda: not sup.leftovers(), timeout=10)

"""The CLI: a subprocess on --port 0 prints the READY line with the port it got, exits 0 on
SIGTERM; the dev stack reads that line; free_port for the services that cannot report a port."""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import requests

from devstack.probes import _ephemeral_range, _lock_port, free_port, owns_listener
from devstack.stack import DevStackConfig, sandbox_process


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            raise AssertionError("no READY line in time")
        return proc.stdout.readline()
    finally:
        sel.close()


def test_cli_ready_line_and_sigterm() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.sandbox",
            "--org",
            "v1",
            "--port",
            "0",
            "--customers",
            "5",
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _read_line(proc, 20)
        ready = re.fullmatch(
            r"SANDBOX READY (http://127\.0\.0\.1:(\d+)) org=v1 "
            r"username=migration@v1\.sandbox password=\*\*\*\*",
            line.strip(),
        )
        assert ready, line
        url, port = ready.group(1), int(ready.group(2))
        assert port != 0  # the port the kernel picked, not the one asked for
        assert "sandbox-v1-password" not in line
        resp = requests.get(f"{url}/__admin/customers", timeout=5)
        assert len(resp.json()) == 5
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0  # the timeout is a hang guard
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def test_the_dev_stack_adopts_the_port_the_sandbox_reports(tmp_path: Path) -> None:
    """sandbox_process with port 0: the child binds, prints it, the supervisor reads the URL. A
    second start appends to the same log: the first run's stale READY line is not adopted."""
    config = DevStackConfig(sf1_port=0, customers=3, state_dir=tmp_path)
    for _ in range(2):
        org = sandbox_process(config, "v1")
        org.start()
        try:
            port = urlsplit(org.url).port
            assert port and port == org.port, org.url
            assert owns_listener(org.pid, port)  # this run's line, not the stale one
            resp = requests.get(f"{org.url}/__admin/customers", timeout=5)
            assert len(resp.json()) == 3
        finally:
            org.stop()
    assert org.log_path.read_text().count("SANDBOX READY") == 2  # one log, both runs


def test_free_port_is_reserved_across_processes() -> None:
    """free_port: below the kernel's ephemeral range, never twice, and a port another process
    reserved is not handed out while that process lives."""
    low, _ = _ephemeral_range()
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= p < low for p in ports), (ports, low)

    script = "from devstack.probes import free_port; import sys; print(free_port(), flush=True)"
    script += "; sys.stdin.read()"  # keep the reservation until we close its stdin
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        theirs = int(_read_line(child, 20))
        assert not _lock_port(theirs)  # held by the other process
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
        if child.stdout:
            child.stdout.close()
    assert _lock_port(theirs)  # released when that process exited

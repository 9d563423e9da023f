"""The CLI: a subprocess prints the READY line once listening and exits 0 on SIGTERM."""

from __future__ import annotations

import selectors
import signal
import socket
import subprocess
import sys
import time

import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.sandbox",
            "--org",
            "v1",
            "--port",
            str(port),
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
        assert line.strip() == (
            f"SANDBOX READY v1 http://127.0.0.1:{port} username=migration@v1.sandbox password=****"
        )
        assert "sandbox-v1-password" not in line
        resp = requests.get(f"http://127.0.0.1:{port}/__admin/customers", timeout=5)
        assert len(resp.json()) == 5
        proc.send_signal(signal.SIGTERM)
        start = time.monotonic()
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - start < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()

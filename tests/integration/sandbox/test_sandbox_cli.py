"""The CLI: a subprocess on --port 0 prints the READY line with the port it got, exits 0 on
SIGTERM."""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import sys

import requests


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

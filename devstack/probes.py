"""Quick, bounded readiness probes used while dev services start."""

from __future__ import annotations

import errno
import fcntl
import os
import random
import re
import socket
import struct
import tempfile
import urllib.error
import urllib.request
from pathlib import Path


def kafka_metadata_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when the broker answers a Kafka Metadata v0 request (not just accepts TCP)."""
    client_id = b"migration-app-probe"
    body = struct.pack(">hhih", 3, 0, 7, len(client_id)) + client_id + struct.pack(">i", 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exact(sock, 8)
    except OSError:
        return False
    if header is None:
        return False
    _size, correlation_id = struct.unpack(">ii", header)
    return correlation_id == 7


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when GET url answers 2xx within the timeout."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (OSError, urllib.error.URLError, ValueError):
        return False


def postgres_ok(dsn: str, timeout: int = 1) -> bool:
    """True when PostgreSQL accepts a connection for this DSN within the timeout."""
    import psycopg2

    try:
        psycopg2.connect(dsn, connect_timeout=timeout).close()
    except psycopg2.Error:
        return False
    return True


def reported_url(log_path: Path, marker: str, tail_bytes: int = 1 << 20) -> str | None:
    """The URL of the last ``<marker> http://host:port ...`` line in a child's log, or None.

    Servers started with ``--port 0`` bind a port the kernel picks and print it in a flushed
    READY line (``REGISTRY READY``, ``SANDBOX READY``): the parent reads it instead of picking a
    port beforehand. The log is appended to across runs, so a caller must check that its own
    child listens on the port (``owns_listener``) before trusting the line.
    """
    try:
        with open(log_path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - tail_bytes))
            text = log.read().decode(errors="replace")
    except OSError:
        return None
    found = re.findall(rf"^{re.escape(marker)} (https?://[^\s/]+)", text, flags=re.MULTILINE)
    return found[-1] if found else None


# free_port: ports below the kernel's ephemeral range, one lock file per port.
_PORT_LOCK_DIR = Path(tempfile.gettempdir()) / "devstack-ports"
_held_port_locks: dict[int, int] = {}  # port -> fd of its lock file, held until we exit


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _allocation_range() -> range:
    """Ports the kernel never hands out by itself (bind to port 0, outgoing connections)."""
    low, _ = _ephemeral_range()
    start = max(10000, low - 12000)
    if low - start < 1000:  # an unusual ephemeral range: fall back to a fixed block below it
        start = 10000
    return range(start, max(start + 1000, low))


def _lock_port(port: int) -> bool:
    """Take port's lock file for the rest of this process's life; False if another has it."""
    _PORT_LOCK_DIR.mkdir(mode=0o777, parents=True, exist_ok=True)
    fd = os.open(_PORT_LOCK_DIR / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
            return False
        raise
    _held_port_locks[port] = fd
    return True


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port for a child that cannot bind port 0 and report what it got (the Tansu broker,
    a worker's web and aiomonitor ports). Children that can report (registry, sandbox) are
    started with ``--port 0`` instead and their READY line is read (``reported_url``).

    Picking a port by binding 0 and closing it races: the kernel hands the same port to the
    next bind to 0 or outgoing connection on the machine. So the port comes from a range *below*
    the kernel's ephemeral range (ip_local_port_range), which the kernel never picks by itself,
    and is reserved with an exclusive ``flock`` on ``$TMPDIR/devstack-ports/<port>.lock`` held for
    the rest of this process's life (the kernel drops it when the process exits, also on
    SIGKILL). Concurrent test sessions and dev stacks on the machine therefore never get the same
    port, and this process never hands one out twice. The port must also bind right now (no one
    else, e.g. a fixed-port service, is on it).
    """
    ports = _allocation_range()
    offset = random.SystemRandom().randrange(len(ports))  # not the (test-seeded) global one
    for i in range(len(ports)):
        port = ports[(offset + i) % len(ports)]
        if port in _held_port_locks or not _lock_port(port):
            continue
        if _bindable(host, port):
            return port
        # Held by a process outside the scheme: keep our lock so we do not try it again.
    raise OSError(errno.EADDRINUSE, f"no free port in {ports.start}-{ports.stop - 1}")


def owns_listener(pid: int, port: int) -> bool:
    """True when ``pid`` (or a process it started) listens on TCP ``port``: our child serves the
    port, not some other process that was already there."""
    import psutil

    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        return False
    for proc in family:
        try:
            # psutil < 6 (the product allows >= 5.9) names it ``connections``
            list_connections = getattr(proc, "net_connections", None) or proc.connections
            connections = list_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections):
            return True
    return False


def listener_pids(port: int) -> set[int]:
    """Pids listening on TCP ``port`` that we may see (for 'port in use by ...' messages)."""
    import psutil

    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return set()
    return {
        c.pid
        for c in connections
        if c.pid is not None and c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }


def process_name(pid: int) -> str:
    """A short description of a process for error messages ('?' if it is gone)."""
    import psutil

    try:
        return " ".join(psutil.Process(pid).cmdline()[:3]) or psutil.Process(pid).name()
    except psutil.Error:
        return "?"

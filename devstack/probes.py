"""Quick, bounded readiness probes used while dev services start."""

from __future__ import annotations

import socket
import struct
import urllib.error
import urllib.request


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


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port (tests and parallel dev stacks)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


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

"""Helpers for the observability integration tests (imported by the tests; fixtures live in
conftest.py): free ports, servers that accept TCP
connections and never answer, a Faust app whose web server runs in-process, and a telnet client
that answers aiomonitor's terminal negotiation."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import faust

from devstack.probes import free_port as free_port  # reserved ports: cannot race
from migration_app.settings import Secret, Settings

TOKEN = "debug-token-for-tests"


class SilentServer:
    """Accepts connections and never writes a byte: the dependency that hangs."""

    def __init__(self) -> None:
        self.accepted = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        try:
            while await reader.read(4096):  # swallow the request, answer nothing, until EOF
                pass
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    @property
    def open_connections(self) -> int:
        return len(self._writers)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[:2]

    async def __aenter__(self) -> SilentServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()


def obs_settings(**overrides: object) -> Settings:
    base = Settings(
        debug_token=Secret(TOKEN),
        health_check_timeout=0.5,
        health_cache_ttl=0.2,
        monitor_enabled=False,
        watchdog_interval=0.2,
        watchdog_window=5,
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def make_app(tmp_path: Path, web_port: int) -> faust.App:
    return faust.App(
        f"obs-test-{web_port}",
        broker="kafka://127.0.0.1:1",
        datadir=str(tmp_path),
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        web_port=web_port,
        web_enabled=True,
        autodiscover=False,
    )


@contextlib.asynccontextmanager
async def running_web(app: faust.App) -> AsyncIterator[str]:
    """Faust's own web server (aiohttp driver) for ``app``, without Kafka."""
    await app.web.start()
    try:
        yield f"http://127.0.0.1:{app.conf.web_port}"
    finally:
        await app.web.stop()


# --- telnet --------------------------------------------------------------------------------------

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
TTYPE, NAWS = 24, 31
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|\r")


class TelnetSession:
    """A raw-socket telnet client: answers DO TTYPE/NAWS (prompt_toolkit waits for the terminal
    type before it draws a prompt), strips IAC sequences and ANSI escapes from what it shows."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.text = ""

    @classmethod
    async def connect(cls, host: str, port: int) -> TelnetSession:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    def _negotiate(self, data: bytes) -> bytes:
        out = bytearray()
        i = 0
        while i < len(data):
            b = data[i]
            if b != IAC or i + 1 >= len(data):
                out.append(b)
                i += 1
                continue
            cmd = data[i + 1]
            if cmd in (DO, DONT, WILL, WONT) and i + 2 < len(data):
                opt = data[i + 2]
                if cmd == DO and opt == TTYPE:
                    self.writer.write(bytes([IAC, WILL, TTYPE]))
                    self.writer.write(bytes([IAC, SB, TTYPE, 0]) + b"xterm" + bytes([IAC, SE]))
                elif cmd == DO and opt == NAWS:
                    self.writer.write(bytes([IAC, WILL, NAWS]))
                    self.writer.write(bytes([IAC, SB, NAWS, 0, 250, 0, 60, IAC, SE]))
                elif cmd == WILL:
                    self.writer.write(bytes([IAC, DO, opt]))
                i += 3
            elif cmd == SB:
                end = data.find(bytes([IAC, SE]), i)
                i = len(data) if end == -1 else end + 2
            else:
                i += 2
        return bytes(out)

    async def read_until(self, marker: str, wait: float = 10.0) -> str:
        """Read until ``marker`` appears in the (cleaned) output after the current position."""
        start = len(self.text)
        async with asyncio.timeout(wait):
            while marker not in self.text[start:]:
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError(
                        f"connection closed before {marker!r}; got {self.text[start:]!r}"
                    )
                shown = self._negotiate(data)
                # prompt_toolkit asks where the cursor is (CPR) and stalls until answered
                for _ in range(shown.count(b"\x1b[6n")):
                    self.writer.write(b"\x1b[1;1R")
                self.text += _ANSI.sub("", shown.decode("utf-8", "replace"))
                await self.writer.drain()
        return self.text[start:]

    async def command(self, line: str, expect: str, end: str, wait: float = 10.0) -> str:
        """Send ``line``; return the output once ``expect`` and then ``end`` appeared (the
        prompt is redrawn while the line echoes, so a prompt alone does not mean "done")."""
        start = len(self.text)
        self.writer.write(line.encode() + b"\r")
        await self.writer.drain()
        await self.read_until(expect, wait)
        await self.read_until(end, wait)
        return self.text[start:]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

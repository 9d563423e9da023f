"""Running a sandbox org: in the current loop (start_sandbox) or in a thread with its own loop
(SandboxThread, for synchronous callers such as tests and benchmarks).

Why: every server needs an owner that stops it; both runners stop cleanly, releasing hung
requests through the app's shutdown event.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from aiohttp import web

from .config import SandboxConfig
from .server import STATE, SandboxState, build_app

SHUTDOWN_TIMEOUT_S = 2.0


@dataclass
class RunningSandbox:
    config: SandboxConfig
    runner: web.AppRunner
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def state(self) -> SandboxState:
        return self.runner.app[STATE]

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_sandbox(config: SandboxConfig) -> RunningSandbox:
    """Build, seed and start one org in the running loop; port 0 picks a free port."""
    cfg = config.resolved()
    app = build_app(cfg)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    port = runner.addresses[0][1]
    return RunningSandbox(cfg, runner, port)


class SandboxThread:
    """A sandbox org served from a background thread with its own event loop.

    Use as a context manager, or call start() / stop(). stop() joins the thread.
    """

    def __init__(self, config: SandboxConfig, start_timeout_s: float = 60.0) -> None:
        self.config = config
        self._timeout = start_timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"sandbox-{config.org}", daemon=True)
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.sandbox: RunningSandbox | None = None

    @property
    def url(self) -> str:
        assert self.sandbox is not None, "not started"
        return self.sandbox.url

    @property
    def state(self) -> SandboxState:
        assert self.sandbox is not None, "not started"
        return self.sandbox.state

    def start(self) -> SandboxThread:
        self._thread.start()
        if not self._ready.wait(self._timeout):
            raise TimeoutError("sandbox did not start in time")
        if self._error is not None:
            self._thread.join(self._timeout)
            raise RuntimeError("sandbox failed to start") from self._error
        return self

    def call(self, fn, *args):
        """Run fn(*args) on the server's loop (store access is not thread-safe) and return it."""

        async def run():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(self._timeout)

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(self._timeout)
        if self._thread.is_alive():
            raise TimeoutError("sandbox thread did not stop")

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            self.sandbox = await start_sandbox(self.config)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.sandbox.stop()

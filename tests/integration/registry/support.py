"""Registry servers (devstack's registry app) for the interop tests: in the test's event loop, or
on a loop of their own in a thread for clients that block; each counts its requests per path."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from devstack.registry_server import build_app


@dataclass
class InLoopRegistry:
    """A registry served by the test's own event loop; ``hits`` counts requests per path."""

    url: str
    hits: Counter[str] = field(default_factory=Counter)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


def counted_app(data_file: Path | None = None) -> tuple[web.Application, Counter[str]]:
    app = build_app(data_file)
    hits: Counter[str] = Counter()

    async def count(request: web.Request, response: web.StreamResponse) -> None:
        hits[f"{request.method} {request.path}"] += 1

    app.on_response_prepare.append(count)
    return app, hits


class ThreadedRegistry:
    """The registry on its own loop in a daemon thread, for clients that block (sync HTTP)."""

    def __init__(self) -> None:
        self.url = ""
        self.hits: Counter[str] = Counter()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="registry-server", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        runner = None
        try:
            app, self.hits = counted_app()
            runner, self.url = loop.run_until_complete(serve(app))
            self._ready.set()
            loop.run_forever()
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()
        finally:
            if runner is not None:
                loop.run_until_complete(runner.cleanup())
            loop.close()

    def start(self) -> ThreadedRegistry:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("registry thread did not start within 10s")
        if self._error is not None:
            raise RuntimeError("registry thread failed") from self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        assert not self._thread.is_alive(), "registry thread did not stop"

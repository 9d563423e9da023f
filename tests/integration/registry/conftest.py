"""Registry servers for the interop tests: in the test's loop, or in a thread for sync clients
(the servers: support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.integration.registry.support import InLoopRegistry, ThreadedRegistry, counted_app, serve


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[InLoopRegistry]:
    app, hits = counted_app(tmp_path / "registry.json")
    runner, url = await serve(app)
    try:
        yield InLoopRegistry(url=url, hits=hits)
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
def threaded_registry() -> Iterator[ThreadedRegistry]:
    server = ThreadedRegistry().start()
    try:
        yield server
    finally:
        server.stop()

"""Fixtures for the observability integration tests (helpers: support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.observability.support import SilentServer


@pytest.fixture
async def silent() -> AsyncIterator[SilentServer]:
    async with SilentServer() as server:
        yield server

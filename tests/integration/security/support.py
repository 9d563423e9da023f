"""The app from ``build(settings)`` with its web server in this process (no Kafka, no database
started): enough for what the web layer decides on its own (routes, headers, tokens, cookies)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from migration_app.app import Components, build
from migration_app.settings import Secret, Settings
from tests.integration.observability.support import free_port, running_web

OPERATOR = ("ops-alice", "operator-secret-for-security-tests-0001")
READER = ("carol", "reader-secret-for-security-tests-000002")
DEBUG = "debug-secret-for-security-tests-0000003"


def production_like(tmp_path: Path, **overrides: Any) -> Settings:
    """Console closed, an operator and a reader token, a debug token (validated as at start)."""
    settings = dataclasses.replace(
        Settings(dev_mode=True).with_dev_defaults(),
        operator_token=Secret(f"{OPERATOR[0]}:{OPERATOR[1]}"),
        console_read_token=Secret(f"{READER[0]}:{READER[1]}"),
        debug_token=Secret(DEBUG),
        console_public=False,
        web_port=free_port(),
        web_bind="127.0.0.1",
        data_dir=str(tmp_path),
        monitor_enabled=False,
        **overrides,
    )
    settings.validate()
    return settings


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[Components, str]]:
    components = build(settings)
    async with running_web(components.app) as base:
        yield components, base

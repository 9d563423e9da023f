"""What the console tests share besides fixtures: the console worker's tokens, where the browser
is, and the audit database the console must agree with."""

from __future__ import annotations

import os
import shutil
from typing import Any

import psycopg2

from devstack.stack import DevStack

# The console worker's operator (name, token) and its read token.
OPERATOR = ("ops-alice", "operator-token-for-tests-0123456789")
READ_TOKEN = "read-token-for-tests-0123456789abcdef"
GET_A_BROWSER = (
    "no headless browser: install Debian's `apt-get install -y chromium chromium-driver` "
    "(.ci/run does) and the dev extra (selenium); or set MIGRATION_TEST_CHROMIUM / "
    "MIGRATION_TEST_CHROMEDRIVER to their paths"
)


def browser_paths() -> tuple[str, str] | None:
    chromium = os.environ.get("MIGRATION_TEST_CHROMIUM") or shutil.which("chromium")
    driver = os.environ.get("MIGRATION_TEST_CHROMEDRIVER") or shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None
    return (chromium, driver) if chromium and driver else None


def sql(devstack: DevStack, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Rows of a query on the audit database (what the console must agree with)."""
    with psycopg2.connect(devstack.database_url, connect_timeout=5) as conn:
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = 5000")
            cur.execute(query, params)
            return cur.fetchall()

"""PostgreSQL for the audit tests: an explicit server, and schemas the tests create themselves.

Server: MIGRATION_TEST_DATABASE_URL if set, else the session devstack's database (its embedded
pgserver). Never whatever happens to listen on 127.0.0.1:5432.

Each test gets a fresh schema named after its module and test plus a random suffix
(``audit_<module>_<test>_<hex>``), created here and dropped here: the tests drop only what they
created, so a shared server is safe. The recovery test runs its own throw-away pgserver
(``stoppable_postgres``, tests/integration/conftest.py) because it stops and restarts the server.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions
import pytest

from migration_app.audit.settings import AuditSettings

_MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> str:
    configured = os.environ.get("MIGRATION_TEST_DATABASE_URL")
    if configured:
        return configured
    return request.getfixturevalue("devstack").database_url  # started only when needed


def _schema_name(request: pytest.FixtureRequest) -> str:
    module = request.node.path.stem.removeprefix("test_")
    test = request.node.originalname.removeprefix("test_")
    suffix = uuid.uuid4().hex[:10]
    stem = re.sub(r"[^a-z0-9_]", "_", f"audit_{module}_{test}".lower())
    return f"{stem[: _MAX_IDENTIFIER - len(suffix) - 1]}_{suffix}"


@pytest.fixture
def schema_dsn(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A DSN whose search_path is a fresh, empty schema that this fixture created."""
    schema = _schema_name(request)
    _admin(postgres_url, f'CREATE SCHEMA "{schema}"')  # fails if it exists: never adopt one
    try:
        yield psycopg2.extensions.make_dsn(postgres_url, options=f"-c search_path={schema}")
    finally:
        _admin(postgres_url, f'DROP SCHEMA "{schema}" CASCADE')  # ours, with what is in it


@pytest.fixture
def audit_settings(schema_dsn: str) -> AuditSettings:
    return AuditSettings(dsn=schema_dsn, pool_min=1, pool_max=5, timeout=5.0)


def _admin(dsn: str, sql: str) -> None:
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()

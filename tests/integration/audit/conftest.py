"""PostgreSQL for the audit tests, each test in its own schema (dropped afterwards).

Server, in this order: MIGRATION_TEST_DATABASE_URL, the machine's local server on 127.0.0.1:5432,
an embedded pgserver in a temporary directory.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.extensions
import pytest

from devstack.probes import postgres_ok
from migration_app.audit import AuditSettings

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("MIGRATION_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    if postgres_ok(LOCAL_URL, timeout=2):
        yield LOCAL_URL
        return
    with EmbeddedPostgres(tmp_path_factory.mktemp("audit-pg")) as server:
        yield server.get_uri()


@pytest.fixture
def schema_dsn(postgres_url: str) -> Iterator[str]:
    """A DSN whose search_path is a fresh, empty schema."""
    schema = f"audit_test_{uuid.uuid4().hex[:12]}"
    _admin(postgres_url, f'CREATE SCHEMA "{schema}"')
    try:
        yield psycopg2.extensions.make_dsn(postgres_url, options=f"-c search_path={schema}")
    finally:
        _admin(postgres_url, f'DROP SCHEMA "{schema}" CASCADE')


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


class EmbeddedPostgres:
    """A private pgserver instance in ``data_dir``, stopped on exit (never the shared one)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir / "pgdata"
        self.server = None

    def __enter__(self):  # type: ignore[no-untyped-def]
        import pgserver  # slow import: only when needed

        self.server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.cleanup()

    def get_uri(self) -> str:
        assert self.server is not None
        return self.server.get_uri()

    def stop(self) -> None:
        """Fast shutdown (clients are disconnected), waiting until it is down."""
        from pgserver._commands import pg_ctl

        assert self.server is not None
        pg_ctl(
            ["-w", "-m", "fast", "stop"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
            timeout=30,
        )

    def start(self) -> None:
        """Start again on the same data directory and socket (same URI)."""
        assert self.server is not None
        self.server.ensure_postgres_running()


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres(tmp_path) as server:
        yield server

"""The audit database's schema changes: the packaged ``audit/sql/NNNN_name.sql`` files
(:class:`SchemaChange`, ``load_schema_changes``) and the runner that applies the missing ones
(``apply_schema_changes``) in one transaction under an advisory lock, so many workers starting
at once apply each file once. (A schema change is not a customer migration.)"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import aiopg

from migration_app.audit.errors import AuditError

# pg_advisory_xact_lock key serialising schema changes across workers ("migr" in ASCII).
SCHEMA_CHANGE_LOCK_KEY = 0x6D696772
_SCHEMA_CHANGE_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class SchemaChange:
    """One packaged ``audit/sql/NNNN_name.sql`` file: a change to the audit database's schema."""

    version: int
    name: str
    sql: str


def load_schema_changes() -> list[SchemaChange]:
    """The packaged ``audit/sql/NNNN_name.sql`` files, in version order (blocking file I/O)."""
    found: dict[int, SchemaChange] = {}
    for entry in resources.files("migration_app.audit").joinpath("sql").iterdir():
        match = _SCHEMA_CHANGE_FILE.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise AuditError(f"two audit schema changes with version {version}")
        found[version] = SchemaChange(version, entry.name, entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


#: The applied schema changes (the table keeps the name it is deployed under)
_CREATE_SCHEMA_CHANGES_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


async def apply_schema_changes(
    cur: aiopg.Cursor, changes: Sequence[SchemaChange], statement_timeout: float
) -> list[str]:
    """Apply the missing ``changes`` on ``cur`` in one transaction holding the advisory lock,
    each statement limited to ``statement_timeout`` (s); the names of the files applied."""
    applied: list[str] = []
    await cur.execute("BEGIN")
    await cur.execute(f"SET LOCAL statement_timeout = {int(statement_timeout * 1000)}")
    await cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_CHANGE_LOCK_KEY,))
    await cur.execute(_CREATE_SCHEMA_CHANGES_TABLE)
    await cur.execute("SELECT version FROM schema_migrations")
    done = {row[0] for row in await cur.fetchall()}
    for change in changes:
        if change.version in done:
            continue
        await cur.execute(change.sql)
        await cur.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
            (change.version, change.name),
        )
        applied.append(change.name)
    await cur.execute("COMMIT")
    return applied

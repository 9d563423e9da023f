"""`migration-app devstack` prints the `export` lines that point a worker at the stack; an
external database's password is not among them (issue 24, finding 7: it printed
`export MIGRATION_DATABASE_URL=postgresql://user:password@...`)."""

from __future__ import annotations

import shlex

from devstack.dev import export_lines


def test_exports_never_print_a_database_password() -> None:
    env = {
        "MIGRATION_DEV_MODE": "true",
        "MIGRATION_BROKER_URL": "kafka://127.0.0.1:9092",
        "MIGRATION_DATABASE_URL": "postgresql://audit:Pa55-w0rd@db.example:5432/audit",
    }
    lines = export_lines(env)
    text = "\n".join(lines)
    assert "Pa55-w0rd" not in text
    assert "postgresql://audit:****@db.example:5432/audit" in text  # which one it is
    assert "  export MIGRATION_BROKER_URL=kafka://127.0.0.1:9092" in lines
    assert not any(line.startswith("  export MIGRATION_DATABASE_URL") for line in lines)


def test_the_embedded_database_and_odd_values_are_exported_as_shell_words() -> None:
    embedded = "postgresql://postgres@/postgres?host=/tmp/state dir/pg"
    (line,) = export_lines({"MIGRATION_DATABASE_URL": embedded})
    assert shlex.split(line.strip()) == ["export", f"MIGRATION_DATABASE_URL={embedded}"]

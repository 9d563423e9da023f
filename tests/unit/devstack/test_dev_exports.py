"""`migration-app devstack` prints the `export` lines that point a worker at the stack; an
external database's password is not among them (issue 24, finding 7: it printed
`export MIGRATION_DATABASE_URL=postgresql://user:password@...`)."""

from __future__ import annotations

import shlex
import subprocess

from devstack.dev import export_lines, write_env_file


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
    # devstack.stack.postgres_process's form: user, an empty password, the socket directory
    # (the env file left it out as "yours, unchanged" when an empty password counted as one)
    embedded = "postgresql://postgres:@/postgres?host=/tmp/state dir/pg"
    (line,) = export_lines({"MIGRATION_DATABASE_URL": embedded})
    assert shlex.split(line.strip()) == ["export", f"MIGRATION_DATABASE_URL={embedded}"]


def test_the_env_file_for_the_cli_is_the_owners_alone_and_sources_in_a_shell(tmp_path) -> None:
    env = {
        "MIGRATION_BROKER_URL": "kafka://127.0.0.1:9092",
        "MIGRATION_DATABASE_URL": "postgresql://audit:Pa55-w0rd@db.example:5432/audit",
    }
    path = write_env_file(tmp_path / "state" / "env", env)
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert "Pa55-w0rd" not in text
    shell = subprocess.run(
        ["bash", "-c", f"source {shlex.quote(str(path))} && echo $MIGRATION_BROKER_URL"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert shell.stdout.strip() == "kafka://127.0.0.1:9092"

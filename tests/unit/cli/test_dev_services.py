"""`make dev` run twice: the second run must start its own PostgreSQL again.

Dev mode points MIGRATION_DATABASE_URL's default at .devstack/pgdata once that exists (so
`status`, `verify`, ... reach a running `make dev`); the dev command took that default for an
external server and did not start the embedded one, and its worker waited for it forever.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migration_app.cli.dev_services import stack_config
from migration_app.settings import Settings

OPTIONS = {
    "customers": 10,
    "seed": 1,
    "broker_port": 9092,
    "registry_port": 8081,
    "sf1_port": 8101,
    "sf2_port": 8102,
    "latency_ms": 0,
    "state_dir": ".devstack",
}


@pytest.fixture
def after_a_first_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".devstack" / "pgdata").mkdir(parents=True)
    return tmp_path


def test_the_stacks_own_pgdata_is_started_not_taken_for_an_external_server(
    after_a_first_run: Path,
) -> None:
    settings = Settings.from_env({"MIGRATION_DEV_MODE": "true"})
    assert ".devstack/pgdata" in settings.database_url.reveal()  # the default `status` uses

    assert stack_config(settings, **OPTIONS).database_url == ""


def test_a_stack_on_another_state_dir_does_not_borrow_the_default_ones_database(
    after_a_first_run: Path,
) -> None:
    settings = Settings.from_env({"MIGRATION_DEV_MODE": "true"})

    config = stack_config(settings, **{**OPTIONS, "state_dir": "elsewhere"})
    assert config.database_url == ""


def test_an_explicit_database_is_used_as_it_is(after_a_first_run: Path) -> None:
    url = "postgresql://app@db.example:5432/audit"
    settings = Settings.from_env({"MIGRATION_DEV_MODE": "true", "MIGRATION_DATABASE_URL": url})

    assert stack_config(settings, **OPTIONS).database_url == url

"""Budgets and clients for work outside the worker: one budget per org unless turned off, and
no budget (nothing to lease from) without a database."""

from __future__ import annotations

import dataclasses

from migration_app.salesforce.org_clients import holder_name, org_budgets, org_clients
from migration_app.settings import Secret, Settings
from tests.unit.salesforce.memory_leases import MemoryLeases


def _settings(**env: str) -> Settings:
    return Settings.from_env({"MIGRATION_DEV_MODE": "true", **env})


def test_each_org_gets_its_budget_unless_it_is_turned_off() -> None:
    settings = _settings(
        MIGRATION_SF1_CONCURRENT_REQUESTS="3",
        MIGRATION_SF2_CONCURRENT_REQUESTS="0",
        MIGRATION_SF_MAX_WORKERS="12",
    )
    budgets = org_budgets(settings, MemoryLeases(), holder_name("cli-test"))
    assert list(budgets) == ["sf1"]
    assert (budgets["sf1"].limit, budgets["sf1"].local_max) == (3, 12)
    assert budgets["sf1"].holder.startswith("cli-test:")


async def test_without_a_database_the_clients_run_without_a_budget() -> None:
    settings = dataclasses.replace(_settings(), database_url=Secret(""))
    async with org_clients(settings, ("sf2",)) as clients:
        assert list(clients) == ["sf2"] and clients["sf2"].budget is None
        client = clients["sf2"]
    assert client._executor is None  # closed on exit

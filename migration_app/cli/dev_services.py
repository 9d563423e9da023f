"""`migration-app devstack`: the dev services alone; the stack options and config it shares with
`dev`. (No file of the wheel may be named after the dev services, hence this module's name.)

The dev commands hand over to the ``devstack`` package, which is installed next to the product
for development only; without it they say how to get it (``DevStackMissing``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from faust.cli import option

from migration_app.cli.base import DevStackMissing, SyncCommand, load_settings
from migration_app.settings import DEV_STATE_DIR, Settings, embedded_database_url

STACK_OPTIONS = [
    option("--customers", type=int, default=200, show_default=True, help="V1 customers to seed"),
    option("--seed", type=int, default=42, show_default=True, help="Seed of the V1 data"),
    option("--broker-port", type=int, default=9092, show_default=True),
    option("--registry-port", type=int, default=8081, show_default=True),
    option("--sf1-port", type=int, default=8101, show_default=True),
    option("--sf2-port", type=int, default=8102, show_default=True),
    option("--latency-ms", type=int, default=0, show_default=True, help="Sandbox API latency"),
    option("--state-dir", default=DEV_STATE_DIR, show_default=True, help="Logs and pgdata"),
]


def devstack_module(module: str) -> Any:
    try:
        return importlib.import_module(f"devstack.{module}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "devstack":
            raise DevStackMissing() from None
        raise


def stack_config(settings: Settings, **kw: Any) -> Any:
    stack = devstack_module("stack")
    state_dir = Path(kw["state_dir"])
    database_url = settings.database_url.reveal()
    # Dev mode points the database at .devstack/pgdata once it exists (for `status`, `verify`,
    # ... beside a running `make dev`). A stack never takes that default for an external server:
    # it starts its own embedded PostgreSQL (the second `make dev` waited forever for it).
    embedded = {embedded_database_url(d / "pgdata") for d in (state_dir, Path(DEV_STATE_DIR))}
    if database_url in embedded:
        database_url = ""
    return stack.DevStackConfig(
        customers=kw["customers"],
        seed=kw["seed"],
        broker_port=kw["broker_port"],
        registry_port=kw["registry_port"],
        sf1_port=kw["sf1_port"],
        sf2_port=kw["sf2_port"],
        sandbox_latency_ms=kw["latency_ms"],
        state_dir=state_dir,
        database_url=database_url,
    )


class devstack(SyncCommand):
    """Run the dev services alone (broker, PostgreSQL, registry, sandbox orgs) and print URLs."""

    options = STACK_OPTIONS

    def run(self, **kw: Any) -> int:  # type: ignore[override]
        settings = load_settings()
        return devstack_module("dev").run_devstack(stack_config(settings, **kw))

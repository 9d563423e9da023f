"""`@app.command`s: the CLI beyond Faust's built-ins."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from faust.cli import AppCommand, option

from migration_app.app import app


class SyncCommand(AppCommand):
    """A command that runs in the foreground without starting the app's event loop.

    Faust documents that overriding ``__call__`` gives a non-async command; `dev` and `devstack`
    supervise child processes and need no loop of their own.
    """

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        code = self.run(*(self.args + args), **{**self.kwargs, **kwargs})
        sys.exit(code or 0)


_stack_options = [
    option("--customers", type=int, default=200, show_default=True, help="V1 customers to seed"),
    option("--seed", type=int, default=42, show_default=True, help="Seed of the V1 data"),
    option("--broker-port", type=int, default=9092, show_default=True),
    option("--registry-port", type=int, default=8081, show_default=True),
    option("--sf1-port", type=int, default=8101, show_default=True),
    option("--sf2-port", type=int, default=8102, show_default=True),
    option("--latency-ms", type=int, default=0, show_default=True, help="Sandbox API latency"),
    option("--state-dir", default=".devstack", show_default=True, help="Logs and pgdata"),
]


def _config(**kw: Any) -> Any:
    from migration_app.devstack.stack import DevStackConfig

    return DevStackConfig(
        customers=kw["customers"],
        seed=kw["seed"],
        broker_port=kw["broker_port"],
        registry_port=kw["registry_port"],
        sf1_port=kw["sf1_port"],
        sf2_port=kw["sf2_port"],
        sandbox_latency_ms=kw["latency_ms"],
        state_dir=Path(kw["state_dir"]),
        database_url=app_settings_database_url(),
    )


def app_settings_database_url() -> str:
    from migration_app.app import settings

    return settings.database_url.reveal()


@app.command(*_stack_options, base=SyncCommand)
def devstack(self: SyncCommand, **kw: Any) -> int:
    """Run the dev services alone (broker, PostgreSQL, registry, sandbox orgs) and print URLs."""
    from migration_app.devstack.dev import run_devstack

    return run_devstack(_config(**kw))


@app.command(*_stack_options, base=SyncCommand)
def dev(self: SyncCommand, **kw: Any) -> int:
    """Run the embedded default: dev services plus a worker, until Ctrl-C."""
    from migration_app.app import settings
    from migration_app.devstack.dev import run_dev

    return run_dev(_config(**kw), web_port=settings.web_port, monitor_port=settings.monitor_port)

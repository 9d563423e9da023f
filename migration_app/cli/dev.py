"""`migration-app dev`: the dev services plus a worker, until Ctrl-C."""

from __future__ import annotations

from typing import Any

from migration_app.cli.base import SyncCommand, load_settings
from migration_app.cli.dev_services import STACK_OPTIONS, devstack_module, stack_config


class dev(SyncCommand):
    """Run the embedded default: dev services plus a worker, until Ctrl-C."""

    options = STACK_OPTIONS

    def run(self, **kw: Any) -> int:  # type: ignore[override]
        settings = load_settings()
        return devstack_module("dev").run_dev(
            stack_config(settings, **kw),
            web_port=settings.web_port,
            monitor_port=settings.monitor_port,
        )

"""`migration-app resync`: re-migrate the customers changed in V1 since their last COMPLETED
migration (the work: ``resync/command.py``)."""

from __future__ import annotations

import click
from faust.cli import option

from migration_app.cli.base import SettingsCommand


class resync(SettingsCommand):
    """Find customers changed in V1 since their last COMPLETED migration; enqueue them again."""

    options = [
        option(
            "--since",
            default=None,
            help="Changes after this ISO-8601 time (default: each customer's last COMPLETED run)",
        ),
        option("--dry-run", is_flag=True, help="Only list the customers and their changes"),
        option(
            "--deleted",
            type=click.Choice(["report", "delete"]),
            default="report",
            show_default=True,
            help="Records deleted in V1: report them, or delete them in V2 if ours and unchanged",
        ),
        option(
            "--requeue-after",
            "requeue_after_min",
            type=float,
            default=60.0,
            show_default=True,
            help="Minutes before a customer an earlier resync enqueued is enqueued again",
        ),
        option("--json", "as_json", is_flag=True, help="Machine-readable output"),
    ]

    async def run(  # type: ignore[override]
        self,
        since: str | None,
        dry_run: bool,
        deleted: str,
        requeue_after_min: float,
        as_json: bool,
    ) -> None:
        from migration_app.resync.command import run_resync

        ok, text = await run_resync(
            self.settings,
            since=since,
            dry_run=dry_run,
            deleted=deleted,
            as_json=as_json,
            requeue_after_s=requeue_after_min * 60,
        )
        self.say(text)
        if not ok:
            raise SystemExit(1)

"""`migration-app rollback`: delete from V2 what this project created for customers (the work:
``rollback/command.py``)."""

from __future__ import annotations

from faust.cli import argument, option

from migration_app.cli.base import SettingsCommand


class rollback(SettingsCommand):
    """Delete from V2 what this project created for customers (prints the plan without --yes)."""

    options = [
        argument("customer_ids", nargs=-1),
        option("--dry-run", is_flag=True, help="Only print what would be deleted"),
        option("--yes", is_flag=True, help="Really delete (asks the workers to roll back)"),
        option(
            "--wait",
            "wait_s",
            type=float,
            default=300.0,
            show_default=True,
            help="Seconds to wait for the workers",
        ),
    ]

    async def run(  # type: ignore[override]
        self, customer_ids: tuple[str, ...], dry_run: bool, yes: bool, wait_s: float
    ) -> None:
        from migration_app.rollback.command import run_rollback

        ok, text = await run_rollback(
            self.settings, list(customer_ids), execute=yes and not dry_run, wait_s=wait_s
        )
        self.say(text)
        if not ok:
            raise SystemExit(1)

"""`migration-app verify`: V2 against V1, field by field (the work: ``verify/command.py``)."""

from __future__ import annotations

from faust.cli import argument, option

from migration_app.cli.base import SettingsCommand


class verify(SettingsCommand):
    """Compare V2 with V1, field by field; non-zero exit when any customer is not MATCH."""

    options = [
        argument("customer_ids", nargs=-1),
        option(
            "--all", "all_completed", is_flag=True, help="Every customer whose last run COMPLETED"
        ),
        option("--sample", type=int, default=None, help="A random sample of N of those"),
        option("--since", default=None, help="Only customers finished since (ISO time, UTC)"),
        option("--json", "as_json", is_flag=True, help="Machine-readable output"),
    ]

    async def run(  # type: ignore[override]
        self,
        customer_ids: tuple[str, ...],
        all_completed: bool,
        sample: int | None,
        since: str | None,
        as_json: bool,
    ) -> None:
        from migration_app.verify.command import run_verify

        ok, text = await run_verify(
            self.settings,
            list(customer_ids),
            all_completed=all_completed,
            sample=sample,
            since=since,
            as_json=as_json,
        )
        self.say(text)
        if not ok:
            raise SystemExit(1)

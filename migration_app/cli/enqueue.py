"""`migration-app enqueue`: publish CustomerReadyForMigration events for customer ids."""

from __future__ import annotations

import asyncio
from pathlib import Path

from faust.cli import argument, option

from migration_app.cli.base import SettingsCommand
from migration_app.migration.salesforce_ids import is_salesforce_id
from migration_app.settings import Settings

#: bad ids named in the refusal, at most
SHOWN = 5


class enqueue(SettingsCommand):
    """Publish CustomerReadyForMigration events for customer ids (V1 Account Ids)."""

    options = [
        argument("customer_ids", nargs=-1),
        option("--all-seeded", is_flag=True, help="Every Account in V1 (the seeded customers)"),
        option("--file", "id_file", type=str, default=None, help="File with one id per line"),
        option("--dry-run", is_flag=True, help="Transform and validate without writing to V2"),
        option("--force", is_flag=True, help="Re-migrate customers already COMPLETED"),
    ]

    async def run(  # type: ignore[override]
        self,
        customer_ids: tuple[str, ...],
        all_seeded: bool,
        id_file: str | None,
        dry_run: bool,
        force: bool,
    ) -> None:
        from migration_app.worker.publisher import publish

        ids = list(customer_ids)
        if id_file:
            try:
                text = await asyncio.to_thread(Path(id_file).read_text)
            except (OSError, UnicodeDecodeError) as exc:
                raise SystemExit(f"enqueue: cannot read --file {id_file}: {exc}") from None
            ids += [line.strip() for line in text.splitlines() if line.strip()]
        if all_seeded:
            ids += await _v1_account_ids(self.settings)
        if not ids:
            raise SystemExit("enqueue: give customer ids, --file or --all-seeded")
        refusal = refuse_non_ids(ids)
        if refusal:
            raise SystemExit(refusal)
        count = await publish(self.settings, ids, dry_run=dry_run, force=force)
        self.say(f"enqueued {count} customer(s) on topic 'customer'")


async def _v1_account_ids(settings: Settings) -> list[str]:
    from migration_app.salesforce.org_clients import org_clients

    async with org_clients(settings, ("sf1",), role="cli-enqueue") as orgs:
        rows = await orgs["sf1"].query_all("SELECT Id FROM Account ORDER BY Id")
    return [r["Id"] for r in rows]


def refuse_non_ids(ids: list[str]) -> str:
    """Why nothing is enqueued when some ids are no V1 Account Id (a typo, a stray header line
    in --file), or "". The worker would FAIL them with INVALID_ID, one audit row and table
    entry each; an operator's slip is better caught before anything is published."""
    bad = [i for i in ids if not is_salesforce_id(i)]
    if not bad:
        return ""
    shown = ", ".join(repr(b[:40]) for b in bad[:SHOWN])
    more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
    return (
        f"enqueue: {len(bad)} of {len(ids)} id(s) are not V1 Account Ids (15 or 18 letters and "
        f"digits): {shown}{more}; nothing enqueued"
    )

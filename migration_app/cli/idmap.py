"""`migration-app idmap`: the ledger as CSV, page by page (a million rows never sit in memory)."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
from typing import IO

from faust.cli import option

from migration_app.cli.base import SettingsCommand
from migration_app.settings import Settings

COLUMNS = ("customer_id", "object", "legacy_id", "v2_id", "action", "recorded_at")


class idmap(SettingsCommand):
    """Export the V1 id -> V2 id ledger as CSV (streamed; history included)."""

    options = [
        option("--object", "sobject", default=None, help="Only this V2 object, e.g. Contact"),
        option("--out", "out_file", default=None, help="Write to this file (default: stdout)"),
        option("--page-size", type=int, default=5000, show_default=True),
    ]

    async def run(  # type: ignore[override]
        self, sobject: str | None, out_file: str | None, page_size: int
    ) -> None:
        rows = await export_id_map(self.settings, out_file, sobject=sobject, page_size=page_size)
        if out_file:
            self.say(f"wrote {rows} ledger row(s) to {out_file}")


async def export_id_map(
    settings: Settings, out_file: str | None, *, sobject: str | None = None, page_size: int = 5000
) -> int:
    """Rows written. Keyset pagination over the ledger's id: each page is ``page_size`` rows."""
    # imported here, not at the top: `migration-app --help` imports every command module
    from migration_app.audit.store import AuditStore
    from migration_app.client_config import audit_config

    store = AuditStore(audit_config(settings, pool_max=1))
    await store.start()
    handle: IO[str] = (
        await asyncio.to_thread(open, out_file, "w", newline="", encoding="utf-8")
        if out_file
        else sys.stdout
    )
    written, after = 0, 0
    try:
        await asyncio.to_thread(handle.write, ",".join(COLUMNS) + "\n")
        while True:
            rows = await store.idmap_page(after, page_size, sobject)
            if not rows:
                break
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for row in rows:
                writer.writerow([_text(row[c]) for c in COLUMNS])
            await asyncio.to_thread(handle.write, buffer.getvalue())
            written += len(rows)
            after = rows[-1]["id"]
    finally:
        if out_file:
            await asyncio.to_thread(handle.close)
        await store.close()
    return written


def _text(value: object) -> str:
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return, union-attr]
    return "" if value is None else str(value)

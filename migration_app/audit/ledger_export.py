"""The ledger as CSV (`migration-app idmap`): every V1 id -> V2 id with its created, updated and
deleted history, streamed page by page so a million rows never sit in memory."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
from typing import IO

from migration_app.audit.settings import AuditSettings
from migration_app.audit.store import AuditStore

COLUMNS = ("customer_id", "object", "legacy_id", "v2_id", "action", "recorded_at")


async def export_id_map(
    config: AuditSettings,
    out_file: str | None,
    *,
    sobject: str | None = None,
    page_size: int = 5000,
) -> int:
    """Rows written to ``out_file`` (stdout if None). Keyset pagination over the ledger's id:
    each page is ``page_size`` rows; ``sobject`` keeps one V2 object's rows."""
    store = AuditStore(config)
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

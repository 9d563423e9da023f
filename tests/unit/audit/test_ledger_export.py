"""``export_id_map``: the ledger as CSV, page by page (keyset: each page after the last id)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from migration_app.audit import ledger_export
from migration_app.audit.settings import AuditSettings

AT = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
ROWS = [
    {"id": 1, "customer_id": "C1", "object": "Account", "legacy_id": "L,1", "v2_id": "V1",
     "action": "created", "recorded_at": AT},
    {"id": 2, "customer_id": "C1", "object": "Contact", "legacy_id": "L2", "v2_id": None,
     "action": "deleted", "recorded_at": AT},
    {"id": 5, "customer_id": "C2", "object": "Account", "legacy_id": "L5", "v2_id": 'V"5',
     "action": "updated", "recorded_at": None},
]  # fmt: skip


class FakeStore:
    pages: list[tuple[int, int, str | None]] = []

    def __init__(self, config: AuditSettings) -> None:
        pass

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def idmap_page(self, after: int, limit: int, sobject: str | None) -> list[dict[str, Any]]:
        self.pages.append((after, limit, sobject))
        rows = [r for r in ROWS if r["id"] > after and sobject in (None, r["object"])]
        return rows[:limit]


async def test_the_csv_holds_every_row_in_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_export, "AuditStore", FakeStore)
    FakeStore.pages = []
    out = tmp_path / "idmap.csv"
    written = await ledger_export.export_id_map(AuditSettings(dsn="x"), str(out), page_size=2)
    assert written == 3
    assert FakeStore.pages == [(0, 2, None), (2, 2, None), (5, 2, None)]
    assert out.read_bytes() == (
        b"customer_id,object,legacy_id,v2_id,action,recorded_at\n"  # csv's rows end in \r\n
        b'C1,Account,"L,1",V1,created,2024-01-02T03:04:05+00:00\r\n'
        b"C1,Contact,L2,,deleted,2024-01-02T03:04:05+00:00\r\n"
        b'C2,Account,L5,"V""5",updated,\r\n'
    )

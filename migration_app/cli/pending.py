"""`migration-app pending`: references to another customer still waiting for their parent
(Account.ParentId of a site migrated before its business; the work:
``audit/pending_references.py``)."""

from __future__ import annotations

import json

from faust.cli import option

from migration_app.cli.base import SettingsCommand


class pending(SettingsCommand):
    """List references across customers not set in V2 yet (their parent is not migrated)."""

    options = [
        option("--customer", default=None, help="Only this customer's (as child or parent)"),
        option("--limit", type=int, default=1000, show_default=True),
        option("--json", "as_json", is_flag=True, help="Machine-readable output"),
    ]

    async def run(  # type: ignore[override]
        self, customer: str | None, limit: int, as_json: bool
    ) -> None:
        from migration_app.audit.pending_references import list_pending, render_pending
        from migration_app.client_config import audit_config

        rows = await list_pending(audit_config(self.settings, pool_max=1), customer, limit)
        self.say(json.dumps(rows, indent=2, default=str) if as_json else render_pending(rows))

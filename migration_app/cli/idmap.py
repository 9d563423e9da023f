"""`migration-app idmap`: the ledger as CSV (the work: ``audit/ledger_export.py``)."""

from __future__ import annotations

from faust.cli import option

from migration_app.cli.base import SettingsCommand
from migration_app.settings import Settings


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
        # imported here, not at the top: `migration-app --help` imports every command module
        from migration_app.audit.ledger_export import export_id_map
        from migration_app.client_config import audit_config

        if sobject is not None:
            known = ledger_objects(self.settings)
            if sobject not in known:
                raise SystemExit(
                    f"idmap: --object {sobject!r} is no V2 object the ledger holds "
                    f"({', '.join(sorted(known))})"
                )
        config = audit_config(self.settings, pool_max=1)
        rows = await export_id_map(config, out_file, sobject=sobject, page_size=page_size)
        if out_file:
            self.say(f"wrote {rows} ledger row(s) to {out_file}")


def ledger_objects(settings: Settings) -> set[str]:
    """The V2 objects the ledger can hold: the mapping's targets and the files' two."""
    from migration_app.migration.files_plan import CONTENT_DOCUMENT, CONTENT_VERSION
    from migration_app.migration.spec import load_mapping

    spec = load_mapping(settings.mapping_file or None)
    return {o.target for o in spec.objects} | {CONTENT_VERSION, CONTENT_DOCUMENT}

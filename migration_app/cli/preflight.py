"""`migration-app preflight`: the mapping against both orgs' live metadata (the work:
``verify/preflight.py``)."""

from __future__ import annotations

from migration_app.cli.base import SettingsCommand


class preflight(SettingsCommand):
    """Check the mapping against both orgs' describe metadata and connectivity."""

    async def run(self) -> None:  # type: ignore[override]
        from migration_app.verify.preflight import run_preflight

        ok, text = await run_preflight(self.settings)
        self.say(text)
        if not ok:
            raise SystemExit(1)

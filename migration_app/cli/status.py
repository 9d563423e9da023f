"""`migration-app status`: a customer's state (from the owning worker) and its last audit run
(the work: ``web/state_client.py``)."""

from __future__ import annotations

import json
from typing import Any

from faust.cli import argument, option

from migration_app.cli.base import SettingsCommand


class status(SettingsCommand):
    """Show a customer's migration state (from the owning worker) and its last audit run."""

    options = [
        argument("customer_ids", nargs=-1),
        option("--json", "as_json", is_flag=True, help="Machine-readable output"),
    ]

    async def run(self, customer_ids: tuple[str, ...], as_json: bool) -> None:  # type: ignore[override]
        from migration_app.web.state_client import status_report

        if not customer_ids:
            raise SystemExit("status: give customer ids")
        for customer_id in customer_ids:
            report = await status_report(self.settings, customer_id)
            self.say(
                json.dumps(report, indent=2, default=str) if as_json else render_status(report)
            )


def render_status(report: dict[str, Any]) -> str:
    state = report.get("state") or {}
    run = report.get("last_run") or {}
    lines = [
        f"customer {report['customer_id']}",
        f"  state:    {state.get('status', 'unknown')} (attempt {state.get('attempt', '-')})"
        + (f"  [{report['state_error']}]" if report.get("state_error") else ""),
        f"  last run: {run.get('status', 'none')} attempt {run.get('attempt', '-')}"
        f" finished {run.get('finished_at', '-')}",
    ]
    if run.get("counts"):
        lines.append(f"  counts:   {run['counts']}")
    if run.get("error"):
        lines.append(f"  error:    {run['error']}")
    if report.get("audit_error"):
        lines.append(f"  audit:    {report['audit_error']}")
    for issue in (run.get("issues") or [])[:20]:
        lines.append(
            f"  {issue['severity']:<7} {issue['object']} {issue['legacy_id']} "
            f"{issue.get('field') or ''} {issue['code']}: {issue['message']}"
        )
    return "\n".join(lines)

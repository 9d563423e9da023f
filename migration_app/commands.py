"""`@app.command`s: the CLI beyond Faust's built-ins."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from faust.cli import AppCommand, argument, option

from migration_app.app import app


class SyncCommand(AppCommand):
    """A command that runs in the foreground without starting the app's event loop.

    Faust documents that overriding ``__call__`` gives a non-async command; `dev` and `devstack`
    supervise child processes and need no loop of their own.
    """

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        code = self.run(*(self.args + args), **{**self.kwargs, **kwargs})
        sys.exit(code or 0)


_stack_options = [
    option("--customers", type=int, default=200, show_default=True, help="V1 customers to seed"),
    option("--seed", type=int, default=42, show_default=True, help="Seed of the V1 data"),
    option("--broker-port", type=int, default=9092, show_default=True),
    option("--registry-port", type=int, default=8081, show_default=True),
    option("--sf1-port", type=int, default=8101, show_default=True),
    option("--sf2-port", type=int, default=8102, show_default=True),
    option("--latency-ms", type=int, default=0, show_default=True, help="Sandbox API latency"),
    option("--state-dir", default=".devstack", show_default=True, help="Logs and pgdata"),
]


def _config(**kw: Any) -> Any:
    from migration_app.devstack.stack import DevStackConfig

    return DevStackConfig(
        customers=kw["customers"],
        seed=kw["seed"],
        broker_port=kw["broker_port"],
        registry_port=kw["registry_port"],
        sf1_port=kw["sf1_port"],
        sf2_port=kw["sf2_port"],
        sandbox_latency_ms=kw["latency_ms"],
        state_dir=Path(kw["state_dir"]),
        database_url=app_settings_database_url(),
    )


def app_settings_database_url() -> str:
    from migration_app.app import settings

    return settings.database_url.reveal()


@app.command(*_stack_options, base=SyncCommand)
def devstack(self: SyncCommand, **kw: Any) -> int:
    """Run the dev services alone (broker, PostgreSQL, registry, sandbox orgs) and print URLs."""
    from migration_app.devstack.dev import run_devstack

    return run_devstack(_config(**kw))


@app.command(*_stack_options, base=SyncCommand)
def dev(self: SyncCommand, **kw: Any) -> int:
    """Run the embedded default: dev services plus a worker, until Ctrl-C."""
    from migration_app.app import settings
    from migration_app.devstack.dev import run_dev

    return run_dev(_config(**kw), web_port=settings.web_port, monitor_port=settings.monitor_port)


@app.command(
    argument("customer_ids", nargs=-1),
    option(
        "--all-seeded", is_flag=True, help="Every Account in V1 (the sandbox's seeded customers)"
    ),
    option("--file", "id_file", type=str, default=None, help="File with one customer id per line"),
    option("--dry-run", is_flag=True, help="Transform and validate without writing to V2"),
    option("--force", is_flag=True, help="Re-migrate customers already COMPLETED"),
)
async def enqueue(
    self: AppCommand,
    customer_ids: tuple[str, ...],
    all_seeded: bool,
    id_file: str | None,
    dry_run: bool,
    force: bool,
) -> None:
    """Publish CustomerReadyForMigration events for customer ids (V1 Account Ids)."""
    from migration_app.app import settings
    from migration_app.enqueue import publish

    ids = list(customer_ids)
    if id_file:
        text = await asyncio.to_thread(Path(id_file).read_text)
        ids += [line.strip() for line in text.splitlines() if line.strip()]
    if all_seeded:
        ids += await _v1_account_ids()
    if not ids:
        raise SystemExit("enqueue: give customer ids, --file or --all-seeded")
    count = await publish(settings, ids, dry_run=dry_run, force=force)
    self.say(f"enqueued {count} customer(s) on topic 'customer'")


async def _v1_account_ids() -> list[str]:
    from migration_app.app import settings
    from migration_app.runtime import _sf_settings
    from migration_app.salesforce import SalesforceClient

    client = SalesforceClient(_sf_settings(settings, "sf1"))
    await client.start()
    try:
        return [r["Id"] for r in await client.query_all("SELECT Id FROM Account ORDER BY Id")]
    finally:
        await client.close()


@app.command(
    argument("customer_ids", nargs=-1),
    option("--json", "as_json", is_flag=True, help="Machine-readable output"),
)
async def status(self: AppCommand, customer_ids: tuple[str, ...], as_json: bool) -> None:
    """Show a customer's migration state (from the owning worker) and its last audit run."""
    import json

    from migration_app.status import customer_status

    for customer_id in customer_ids:
        report = await customer_status(customer_id)
        self.say(json.dumps(report, indent=2, default=str) if as_json else _render_status(report))


def _render_status(report: dict[str, Any]) -> str:
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
    for issue in (run.get("issues") or [])[:20]:
        lines.append(
            f"  {issue['severity']:<7} {issue['object']} {issue['legacy_id']} "
            f"{issue.get('field') or ''} {issue['code']}: {issue['message']}"
        )
    return "\n".join(lines)


@app.command()
async def preflight(self: AppCommand) -> None:
    """Check the mapping against both orgs' describe metadata and connectivity."""
    from migration_app.preflight_run import run_preflight

    ok, text = await run_preflight()
    self.say(text)
    if not ok:
        raise SystemExit(1)

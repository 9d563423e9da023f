"""The CLI beyond Faust's built-ins, as Faust commands that need no app.

Defining a ``faust.cli.Command`` subclass registers it on Faust's ``cli`` group, so importing
this module is what adds the commands; none of them builds the worker's app. Commands read
their settings when they run (``SettingsCommand``), so ``--help`` works with an empty
environment. The dev commands (`dev`, `devstack`) hand over to the ``devstack`` package, which
is installed next to the product for development only; without it they say how to get it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
from faust.cli import Command, argument, option

from migration_app.client_config import salesforce_config
from migration_app.settings import DEV_STATE_DIR, Settings, embedded_database_url

DEVSTACK_MISSING = (
    "the dev services are not installed in this environment (they never ship in the image): "
    "from a checkout run `make dev`, or `pip install -e ./devstack`"
)


class DevStackMissing(click.ClickException):
    exit_code = 2

    def __init__(self) -> None:
        super().__init__(DEVSTACK_MISSING)


def load_settings() -> Settings:
    """The settings a command runs with (``SettingsError`` names every missing variable)."""
    return Settings.from_env()


class SettingsCommand(Command):
    """An async command that reads the settings before Faust's worker wrapper starts it, so a
    configuration problem is reported as such and not as a crashed service."""

    abstract = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = load_settings()


class SyncCommand(Command):
    """A command that runs in the foreground without an event loop of its own.

    Faust documents that overriding ``__call__`` gives a non-async command; `dev` and `devstack`
    supervise child processes and need no loop.
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
    option("--state-dir", default=DEV_STATE_DIR, show_default=True, help="Logs and pgdata"),
]


def _devstack(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"devstack.{module}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "devstack":
            raise DevStackMissing() from None
        raise


def _stack_config(settings: Settings, **kw: Any) -> Any:
    stack = _devstack("stack")
    state_dir = Path(kw["state_dir"])
    database_url = settings.database_url.reveal()
    # Dev mode points the database at .devstack/pgdata once it exists (for `status`, `verify`,
    # ... beside a running `make dev`). A stack never takes that default for an external server:
    # it starts its own embedded PostgreSQL (the second `make dev` waited forever for it).
    embedded = {embedded_database_url(d / "pgdata") for d in (state_dir, Path(DEV_STATE_DIR))}
    if database_url in embedded:
        database_url = ""
    return stack.DevStackConfig(
        customers=kw["customers"],
        seed=kw["seed"],
        broker_port=kw["broker_port"],
        registry_port=kw["registry_port"],
        sf1_port=kw["sf1_port"],
        sf2_port=kw["sf2_port"],
        sandbox_latency_ms=kw["latency_ms"],
        state_dir=state_dir,
        database_url=database_url,
    )


class devstack(SyncCommand):
    """Run the dev services alone (broker, PostgreSQL, registry, sandbox orgs) and print URLs."""

    options = _stack_options

    def run(self, **kw: Any) -> int:  # type: ignore[override]
        settings = load_settings()
        return _devstack("dev").run_devstack(_stack_config(settings, **kw))


class dev(SyncCommand):
    """Run the embedded default: dev services plus a worker, until Ctrl-C."""

    options = _stack_options

    def run(self, **kw: Any) -> int:  # type: ignore[override]
        settings = load_settings()
        return _devstack("dev").run_dev(
            _stack_config(settings, **kw),
            web_port=settings.web_port,
            monitor_port=settings.monitor_port,
        )


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
            text = await asyncio.to_thread(Path(id_file).read_text)
            ids += [line.strip() for line in text.splitlines() if line.strip()]
        if all_seeded:
            ids += await _v1_account_ids(self.settings)
        if not ids:
            raise SystemExit("enqueue: give customer ids, --file or --all-seeded")
        count = await publish(self.settings, ids, dry_run=dry_run, force=force)
        self.say(f"enqueued {count} customer(s) on topic 'customer'")


async def _v1_account_ids(settings: Settings) -> list[str]:
    from migration_app.salesforce.client import SalesforceClient

    client = SalesforceClient(salesforce_config(settings, "sf1"))
    await client.start()
    try:
        return [r["Id"] for r in await client.query_all("SELECT Id FROM Account ORDER BY Id")]
    finally:
        await client.close()


class status(SettingsCommand):
    """Show a customer's migration state (from the owning worker) and its last audit run."""

    options = [
        argument("customer_ids", nargs=-1),
        option("--json", "as_json", is_flag=True, help="Machine-readable output"),
    ]

    async def run(self, customer_ids: tuple[str, ...], as_json: bool) -> None:  # type: ignore[override]
        from migration_app.cli.status import customer_status

        for customer_id in customer_ids:
            report = await customer_status(self.settings, customer_id)
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


class preflight(SettingsCommand):
    """Check the mapping against both orgs' describe metadata and connectivity."""

    async def run(self) -> None:  # type: ignore[override]
        from migration_app.cli.preflight import run_preflight

        ok, text = await run_preflight(self.settings)
        self.say(text)
        if not ok:
            raise SystemExit(1)


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
        from migration_app.cli.id_map import export_id_map

        rows = await export_id_map(self.settings, out_file, sobject=sobject, page_size=page_size)
        if out_file:
            self.say(f"wrote {rows} ledger row(s) to {out_file}")


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


class rollback(SettingsCommand):
    """Delete from V2 what this project created for customers (prints the plan without --yes)."""

    options = [
        argument("customer_ids", nargs=-1),
        option("--dry-run", is_flag=True, help="Only print what would be deleted"),
        option("--yes", is_flag=True, help="Really delete (asks the workers to roll back)"),
        option(
            "--wait",
            "wait_s",
            type=float,
            default=300.0,
            show_default=True,
            help="Seconds to wait for the workers",
        ),
    ]

    async def run(  # type: ignore[override]
        self, customer_ids: tuple[str, ...], dry_run: bool, yes: bool, wait_s: float
    ) -> None:
        from migration_app.rollback.command import run_rollback

        ok, text = await run_rollback(
            self.settings, list(customer_ids), execute=yes and not dry_run, wait_s=wait_s
        )
        self.say(text)
        if not ok:
            raise SystemExit(1)

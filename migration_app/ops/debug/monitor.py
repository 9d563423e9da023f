"""aiomonitor, started and stopped by the app itself, with our commands in its telnet UI.

Commands (added to ``aiomonitor.monitor_cli`` at import): ``health`` (the /health JSON),
``migration <customer_id>`` (the migration_state table, plus the audit rows when
``MonitorOps.audit`` is given), ``tasks-top`` (grouped task stacks, like tasks?debug=1) and
``leaks`` (the watchdog's view).

Commands run in aiomonitor's own thread and loop. ``tasks-top`` reads the app loop's tasks from
there (like aiomonitor's ``ps``) so it still answers when the app loop is blocked; the others run
on the app loop through ``run_coroutine_threadsafe`` with a timeout.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import threading
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import click
from aiomonitor import Monitor, monitor_cli
from aiomonitor.context import command_done
from aiomonitor.termui.commands import (
    auto_async_command_done,
    auto_command_done,
    custom_help_option,
    print_fail,
)

from migration_app.compat import aiomonitor_internals
from migration_app.ops.debug.tasks import all_tasks, format_groups, group_tasks

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 10.0

MigrationLookup = Callable[[str], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True)
class MonitorOps:
    """What the commands call on the app loop; built by ``observability.install``."""

    health: Callable[[], Awaitable[Mapping[str, Any]]]
    leaks: Callable[[], Awaitable[Mapping[str, Any]]]
    migration_state: MigrationLookup
    #: ``async fn(customer_id) -> mapping`` (the audit rows), shown by ``migration`` under "audit"
    audit: MigrationLookup | None = None


class AppMonitor(Monitor):
    """aiomonitor's Monitor that reports a failed start instead of hanging in ``start()``."""

    ops: MonitorOps | None = None
    start_error: BaseException | None = None

    def _ui_main(self) -> None:
        try:
            super()._ui_main()
        except BaseException as exc:  # ports taken etc.: surface it, do not hang start()
            self.start_error = exc
        finally:
            aiomonitor_internals.mark_ui_started(self)

    def creation_site(self, task: asyncio.Task[Any]) -> list[traceback.FrameSummary] | None:
        """Where ``task`` was created, recorded by the hooked task factory (if enabled)."""
        return aiomonitor_internals.creation_traceback(self, task)


def port_free(host: str, port: int) -> bool:
    """aiomonitor's telnet server binds inside a task and its web UI uses SO_REUSEPORT, so a
    taken port is either silently ignored or shared with another process: check first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


async def start_monitor(
    *,
    host: str,
    port: int,
    console_port: int,
    webui_port: int,
    hook_task_factory: bool,
    locals: dict[str, Any],
    ops: MonitorOps,
) -> AppMonitor | None:
    """Start aiomonitor for the running loop; None (and an ERROR log) if it cannot bind."""
    busy = [p for p in (port, webui_port) if not port_free(host, p)]
    if busy:
        log.error("aiomonitor not started: %s:%s already in use", host, busy)
        return None
    monitor = AppMonitor(
        asyncio.get_running_loop(),
        host=host,
        termui_port=port,
        console_port=console_port,
        webui_port=webui_port,
        hook_task_factory=hook_task_factory,
        locals={"__name__": "__console__", "__doc__": None, **locals},
    )
    monitor.ops = ops
    loop_thread = threading.get_ident()
    await asyncio.to_thread(monitor.start)  # waits for its thread to bind: not on the loop
    aiomonitor_internals.set_loop_thread(monitor, loop_thread)  # start() saw the helper thread
    if monitor.start_error is not None:
        log.error("aiomonitor failed to start: %r", monitor.start_error)
        await asyncio.to_thread(aiomonitor_internals.join_ui_thread, monitor)
        aiomonitor_internals.restore_task_factory(monitor)
        return None
    log.info("aiomonitor: telnet %s %s (web UI port %s)", host, port, webui_port)
    return monitor


async def stop_monitor(monitor: AppMonitor) -> None:
    """Cancel its sessions and join its thread (off the loop)."""
    if not monitor.closed:
        await asyncio.to_thread(monitor.close)


# --- commands ----------------------------------------------------------------------------------


def _ops(ctx: click.Context) -> tuple[AppMonitor, MonitorOps] | None:
    monitor = ctx.obj
    if not isinstance(monitor, AppMonitor) or monitor.ops is None:
        return None
    return monitor, monitor.ops


def _on_app_loop(
    ctx: click.Context, make: Callable[[MonitorOps], Awaitable[Any]], render: Callable[[Any], str]
) -> None:
    """Run ``make(ops)`` on the app loop, print ``render(result)`` in the telnet session."""
    found = _ops(ctx)
    if found is None:
        print_fail("not available: this monitor was not started by migration_app")
        command_done.get().set()  # the command is not wrapped in auto_command_done
        return
    monitor, ops = found
    # custom_help_option's eager callback has already set the "command done" event; clear it
    # now, before the prompt loop awaits it, or the prompt is redrawn before our output and the
    # session stops taking input (aiomonitor only clears it once the task has started)
    command_done.get().clear()

    @auto_async_command_done
    async def _run(ctx: click.Context) -> None:
        async def call() -> Any:
            return await make(ops)

        future = asyncio.run_coroutine_threadsafe(
            call(), aiomonitor_internals.monitored_loop(monitor)
        )
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), COMMAND_TIMEOUT)
        except TimeoutError:
            print_fail(f"the event loop did not answer within {COMMAND_TIMEOUT:g}s (blocked?)")
        except Exception as exc:
            print_fail(f"{type(exc).__name__}: {exc}")
        else:
            click.echo(render(result))

    task = aiomonitor_internals.ui_loop(monitor).create_task(_run(ctx))
    aiomonitor_internals.track_ui_task(monitor, task)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


@monitor_cli.command(name="health")
@custom_help_option
def do_health(ctx: click.Context) -> None:
    """Dependency health, as GET /health returns it"""
    _on_app_loop(ctx, lambda ops: ops.health(), _json)


@monitor_cli.command(name="leaks")
@custom_help_option
def do_leaks(ctx: click.Context) -> None:
    """The leak watchdog's view: growth and the stack groups that grew"""
    _on_app_loop(ctx, lambda ops: ops.leaks(), _json)


@monitor_cli.command(name="migration")
@click.argument("customer_id")
@custom_help_option
def do_migration(ctx: click.Context, customer_id: str) -> None:
    """A customer's migration state (and audit, when the pipeline hooks it in)"""

    async def lookup(ops: MonitorOps) -> dict[str, Any]:
        state = await ops.migration_state(customer_id)
        out: dict[str, Any] = {"customer_id": customer_id, "state": state}
        if ops.audit is not None:
            out["audit"] = await ops.audit(customer_id)
        return out

    _on_app_loop(ctx, lookup, _json)


@monitor_cli.command(name="tasks-top")
@click.option("-n", "--limit", default=15, show_default=True, help="stack groups to show")
@custom_help_option
@auto_command_done
def do_tasks_top(ctx: click.Context, limit: int) -> None:
    """Tasks grouped by identical stack, most frequent first (like tasks?debug=1)"""
    monitor: Monitor = ctx.obj
    groups = group_tasks(all_tasks(aiomonitor_internals.monitored_loop(monitor)))
    total = sum(g.count for g in groups)
    click.echo(format_groups(groups[:limit], total=total))
    if len(groups) > limit:
        click.echo(f"... {len(groups) - limit} more groups (tasks-top -n N)")

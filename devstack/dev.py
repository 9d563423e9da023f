"""`migration-app dev` and `migration-app devstack`: the embedded default, run in the foreground."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.probes import http_ok
from devstack.process import ChildProcess, StartError, StartInterrupted
from devstack.progress import enqueue_seeded, render_summary, show_progress
from devstack.stack import DevStack, DevStackConfig
from migration_app.ops.redaction import has_password, redact_dsn


def worker_process(
    env: dict[str, str],
    *,
    web_port: int,
    log_dir: Path,
    name: str = "worker",
    ready_path: str = "/health/ready",
) -> ChildProcess:
    """A `migration-app worker` child pointed at a dev stack."""
    full_env = {**os.environ, **env, "MIGRATION_WEB_PORT": str(web_port)}
    return ChildProcess(
        name,
        [sys.executable, "-m", "migration_app", "worker", "-l", "info"],
        url=f"http://127.0.0.1:{web_port}",
        ready=lambda: http_ok(f"http://127.0.0.1:{web_port}{ready_path}"),
        log_dir=log_dir,
        env=full_env,
        start_timeout=90,
        stop_timeout=30,
    )


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """SIGTERM/SIGINT/SIGHUP end the foreground command through the same clean path as Ctrl-C."""
    stop = threading.Event()
    previous = {
        sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    }
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


#: How often the supervisor checks that every child is still alive while serving.
LIVENESS_INTERVAL = 0.5
#: Exit status after Ctrl-C/SIGTERM during start (128 + SIGINT, as a shell reports it).
INTERRUPTED = 130


def _exited(children: list[ChildProcess]) -> ChildProcess | None:
    return next((child for child in children if child.exited()), None)


def _report_exited(children: list[ChildProcess]) -> bool:
    """Say which child died on its own and why (exit code, log tail); False if none did."""
    dead = _exited(children)
    if dead is None:
        return False
    print(f"\n{dead.exit_report()}\nstopping the other dev services.", file=sys.stderr)
    sys.stderr.flush()
    return True


def _supervise(stop: threading.Event, children: Callable[[], list[ChildProcess]]) -> int:
    """Serve until ``stop`` (0) or until a child dies on its own (1): a dev stack with a dead
    broker must not keep claiming to be up."""
    while not stop.wait(LIVENESS_INTERVAL):
        if _report_exited(children()):
            return 1
    return 0


def _progress_stop(
    stop: threading.Event, children: Callable[[], list[ChildProcess]]
) -> threading.Event:
    """An event set on Ctrl-C or when a child dies, for the progress bar that blocks on it;
    the caller sets it when done, which also ends the watching thread."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(LIVENESS_INTERVAL):
            if stop.is_set() or _exited(children()) is not None:
                done.set()

    threading.Thread(target=watch, name="devstack-liveness", daemon=True).start()
    return done


def export_lines(env: dict[str, str]) -> list[str]:
    """Shell ``export`` lines pointing a worker at the stack. A value holding a password (the
    external database you gave in MIGRATION_DATABASE_URL) is not printed: you have it already,
    and a terminal's scrollback or a CI log is no place for it."""
    lines = []
    for key, value in env.items():
        if has_password(value):
            lines.append(f"  # {key}: yours, unchanged ({redact_dsn(value)}): keep it exported")
        else:
            lines.append(f"  export {key}={shlex.quote(value)}")
    return lines


def write_env_file(path: Path, env: dict[str, str]) -> Path:
    """The ``export`` lines in a file only its owner reads, for the CLI in another terminal
    (``source .devstack/env``); removed when the dev stack stops."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# written by `migration-app dev`: the CLI against its stack\n")
        out.write("\n".join(line.strip() for line in export_lines(env)) + "\n")
    return path


def print_urls(urls: dict[str, str], out: Callable[[str], None] = print) -> None:
    width = max(len(name) for name in urls)
    for name, url in urls.items():
        out(f"  {name.ljust(width)}  {url}")


def _start_stack(config: DevStackConfig, stop: threading.Event) -> DevStack | int:
    """The started stack, or the exit status when it did not start (Ctrl-C: 130, else 1)."""
    try:
        return DevStack(config).start(stop)
    except StartInterrupted:
        return INTERRUPTED
    except StartError as exc:
        print(f"dev services failed to start: {exc}", file=sys.stderr)
        return 1


def run_devstack(config: DevStackConfig) -> int:
    """Run the dev services alone until Ctrl-C; print their URLs and the env to use them.

    Exits 1, naming the service, when one fails to start or dies while serving."""
    with _stop_on_signals() as stop:
        stack = _start_stack(config, stop)
        if isinstance(stack, int):
            return stack
        try:
            print("dev services are up:")
            print_urls(stack.urls())
            print("\npoint a worker at them with:")
            for line in export_lines(stack.env()):
                print(line)
            print("\nCtrl-C stops everything.", flush=True)
            return _supervise(stop, lambda: stack.processes)
        finally:
            stack.stop()


def run_dev(config: DevStackConfig, *, web_port: int = 6066, monitor_port: int = 50101) -> int:
    """Dev services plus a worker; enqueue the seeded customers, show progress; until Ctrl-C.

    Exits 1, naming the process, when a service or the worker fails to start or dies."""
    with _stop_on_signals() as stop:
        stack = _start_stack(config, stop)
        if isinstance(stack, int):
            return stack
        # The console is open here (no token for customer pages) because the worker binds
        # 127.0.0.1 only; a deployed worker binds 0.0.0.0 and keeps it closed by default.
        dev_env = {
            **stack.env(),
            "MIGRATION_WEB_BIND": "127.0.0.1",
            "MIGRATION_CONSOLE_PUBLIC": "true",
        }
        worker = worker_process(dev_env, web_port=web_port, log_dir=config.state_dir / "logs")

        def children() -> list[ChildProcess]:
            return [*stack.processes, worker]

        try:
            worker.start(stop)
            urls = {
                "web": f"http://127.0.0.1:{web_port}/",
                "health": f"http://127.0.0.1:{web_port}/health",
                "migrations": f"http://127.0.0.1:{web_port}/migrations/",
                "metrics": f"http://127.0.0.1:{web_port}/metrics",
                "aiomonitor": f"telnet 127.0.0.1 {monitor_port}",
                **stack.urls(),
                "worker log": str(worker.log_path),
            }
            print("migration-app dev is running:")
            print_urls(urls)
            env_file = write_env_file(
                config.state_dir / "env", {**stack.env(), "MIGRATION_WEB_PORT": str(web_port)}
            )
            print(
                f"\nthe CLI in another terminal: source {env_file}, then migration-app "
                "status <id> | verify <id> | resync --dry-run | pending | idmap"
            )
            if config.customers and stack.sf1 is not None:
                count = enqueue_seeded(stack.env(), stack.sf1.url)
                print(f"\nenqueued {count} seeded customers; migrating:")
                progress_stop = _progress_stop(stop, children)
                try:
                    summary = show_progress(worker.url, count, progress_stop)
                finally:
                    progress_stop.set()
                if _report_exited(children()):
                    return 1
                if summary:
                    print(render_summary(summary))
                print(f"overview: http://127.0.0.1:{web_port}/migrations/")
            print("\nServing until Ctrl-C.", flush=True)
            return _supervise(stop, children)
        except StartInterrupted:
            return INTERRUPTED
        except StartError as exc:
            print(f"migration-app dev failed to start: {exc}", file=sys.stderr)
            return 1
        finally:
            worker.stop()
            stack.stop()
            (config.state_dir / "env").unlink(missing_ok=True)

"""`migration-app dev` and `migration-app devstack`: the embedded default, run in the foreground."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.probes import http_ok
from devstack.process import ChildProcess
from devstack.progress import enqueue_seeded, render_summary, show_progress
from devstack.stack import DevStack, DevStackConfig


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


def print_urls(urls: dict[str, str], out: Callable[[str], None] = print) -> None:
    width = max(len(name) for name in urls)
    for name, url in urls.items():
        out(f"  {name.ljust(width)}  {url}")


def run_devstack(config: DevStackConfig) -> int:
    """Run the dev services alone until Ctrl-C; print their URLs and the env to use them."""
    with _stop_on_signals() as stop, DevStack(config) as stack:
        print("dev services are up:")
        print_urls(stack.urls())
        print("\npoint a worker at them with:")
        for key, value in stack.env().items():
            print(f"  export {key}={value}")
        print("\nCtrl-C stops everything.", flush=True)
        stop.wait()
    return 0


def run_dev(config: DevStackConfig, *, web_port: int = 6066, monitor_port: int = 50101) -> int:
    """Dev services plus a worker; enqueue the seeded customers, show progress; until Ctrl-C."""
    with _stop_on_signals() as stop, DevStack(config) as stack:
        worker = worker_process(stack.env(), web_port=web_port, log_dir=config.state_dir / "logs")
        worker.start()
        try:
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
            if config.customers and stack.sf1 is not None:
                count = enqueue_seeded(stack.env(), stack.sf1.url)
                print(f"\nenqueued {count} seeded customers; migrating:")
                summary = show_progress(worker.url, count, stop)
                if summary:
                    print(render_summary(summary))
                print(f"overview: http://127.0.0.1:{web_port}/migrations/")
            print("\nServing until Ctrl-C.", flush=True)
            while not stop.wait(1.0):
                if not worker.running():
                    print(f"worker exited; see {worker.log_path}:\n{worker.log_tail()}")
                    return 1
        finally:
            worker.stop()
    return 0

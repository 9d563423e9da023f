"""`migration-app dev`: enqueue the seeded customers and show progress until all are done."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import urllib.request
from typing import Any, TextIO

from migration_app.contracts.customer_status import TERMINAL_STATUSES
from migration_app.settings import Settings
from migration_app.worker.publisher import publish


def seeded_customer_ids(sf1_url: str) -> list[str]:
    """The sandbox's seeded V1 Account ids (its admin endpoint; dev only)."""
    with urllib.request.urlopen(f"{sf1_url}/__admin/customers", timeout=10) as response:
        body = json.loads(response.read())
    return list(body["customers"] if isinstance(body, dict) else body)


def enqueue_seeded(env: dict[str, str], sf1_url: str) -> int:
    ids = seeded_customer_ids(sf1_url)
    return asyncio.run(publish(Settings.from_env(env), ids, requested_by="migration-app dev"))


def fetch_summary(web_url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{web_url}/migrations/summary", timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def render_bar(done: int, total: int, counts: dict[str, int], width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    detail = " ".join(f"{k.lower()}={v}" for k, v in sorted(counts.items()))
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {detail}"


def show_progress(
    web_url: str, total: int, stop: threading.Event, out: TextIO = sys.stdout
) -> dict[str, Any] | None:
    """Redraw a progress bar until `total` customers are terminal (or stop is set)."""
    summary = None
    started = time.monotonic()
    while not stop.is_set():
        summary = fetch_summary(web_url) or summary
        counts = (summary or {}).get("by_status", {})
        done = sum(counts.get(status, 0) for status in TERMINAL_STATUSES)
        out.write("\r" + render_bar(done, total, counts))
        out.flush()
        if done >= total:
            elapsed = time.monotonic() - started
            out.write(f"\nall {total} customers done in {elapsed:.1f}s\n")
            return summary
        stop.wait(0.5)
    out.write("\n")
    return summary


def render_summary(summary: dict[str, Any]) -> str:
    counts = summary.get("by_status", {})
    return (
        f"summary: completed={counts.get('COMPLETED', 0)} failed={counts.get('FAILED', 0)} "
        f"warnings={summary.get('warnings', 0)} errors={summary.get('errors', 0)}"
    )

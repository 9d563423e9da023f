"""What a test reads off a running worker: its JSON views (as a console reader), one /metrics
sample, the lines of its log written since a point."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from devstack.process import ChildProcess
from tests.integration.pipeline.worker_pool import READ_TOKEN

HTTP_TIMEOUT = 5.0


def get_json(url: str) -> tuple[int, Any]:
    """(status, body) as a reader of the console (its token); (0, None) while the worker is not
    answering."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {READ_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read())
        except ValueError:
            return err.code, None
    except OSError:
        return 0, None


def metric(worker: ChildProcess, sample: str, **labels: str) -> float:
    """One sample of the worker's /metrics (0.0 while the labelled child does not exist yet)."""
    with urllib.request.urlopen(f"{worker.url}/metrics", timeout=HTTP_TIMEOUT) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


class LogCursor:
    """The lines a worker wrote to its log after this cursor was made (not earlier tests')."""

    def __init__(self, worker: ChildProcess) -> None:
        self.path = worker.log_path
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def text(self) -> str:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            return log.read().decode(errors="replace")

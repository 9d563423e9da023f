"""The org cost model: what a request and a Bulk API 2.0 batch cost the org, its concurrency limit,
and the capacity (records/s) that follows from them.

Why: what limits a real migration is the org, not the client's CPU: server time per record, and
how many requests it lets run at once. The sandbox spends that time as `asyncio.sleep`s (never a
thread, never blocking the loop), so thousands of concurrent requests cost nothing but memory,
and the capacity below is the physical limit a benchmark compares its rate against.

The figures and their sources are in docs/orgs.md ("Org cost model"). `capacity()` and the
helpers are pure: no I/O, no clock.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace

from .errors import SfError

#: Bulk API 2.0 splits a job's data into internal batches of this many records (documented)
BULK_BATCH_RECORDS = 10_000
#: records per composite/graph request and per sObject collections call (documented limits)
GRAPH_MAX_NODES = 500
COLLECTION_MAX_RECORDS = 200
#: Bulk API 2.0 ingest: records per rolling 24 h, and batches per rolling 24 h (shared with
#: Bulk API 1.0); "Bulk API and Bulk API 2.0 Limits and Allocations"
BULK_DAILY_RECORDS = 150_000_000
BULK_DAILY_BATCHES = 15_000
#: terminal Bulk API 2.0 jobs older than this are deleted (same page)
BULK_JOB_LIFESPAN_S = 7 * 24 * 3600.0

#: the estimate of server time per record saved, by object (see docs/orgs.md for why)
DEFAULT_RECORD_MS: dict[str, float] = {
    "Account": 12.0,
    "Contact": 10.0,
    "Case": 15.0,
    "Meter__c": 6.0,
    "Task": 8.0,
    "EmailMessage": 10.0,
    "ContentVersion": 25.0,
}
DEFAULT_OTHER_RECORD_MS = 8.0


def long_txn_exceeded() -> SfError:
    """The answer to a request beyond the concurrent long-running request limit. The code and
    the text "ConcurrentPerOrgLongTxn Limit exceeded" are what clients and integration guides
    quote; the HTTP status (403, as for TotalRequests) and the trailing period are not
    confirmed from Salesforce's docs."""
    return SfError(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")


@dataclass(frozen=True)
class CostModel:
    """What the org charges. `enabled=False` (the sandbox's default): no request or record
    costs (the flat --latency-ms / --per-record-ms of faults.py still apply), bulk batches are
    processed at once; the concurrency limit always applies (it only bites requests that run
    `long_request_s` or more)."""

    enabled: bool = False
    #: server time of any API request, before its records (ms)
    request_overhead_ms: float = 60.0
    #: server time per record saved, by object (ms); other objects: other_record_ms
    record_ms: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RECORD_MS))
    other_record_ms: float = DEFAULT_OTHER_RECORD_MS
    #: triggers, flows and validation rules of the target org multiply the time per record
    automation_multiplier: float = 1.0
    #: concurrent long-running requests per org, and what long-running means (s)
    long_request_limit: int = 25
    long_request_s: float = 20.0
    #: Bulk API 2.0: internal batches processed at once per org, the fixed cost of a batch
    #: and the time before a job that is UploadComplete starts (ms)
    bulk_parallel_batches: int = 5
    bulk_batch_overhead_ms: float = 1000.0
    bulk_job_start_ms: float = 2000.0

    def __post_init__(self) -> None:
        numbers = (
            self.request_overhead_ms,
            self.other_record_ms,
            self.bulk_batch_overhead_ms,
            self.bulk_job_start_ms,
            *self.record_ms.values(),
        )
        if any(v < 0 for v in numbers):
            raise ValueError("cost model times must be >= 0")
        if self.automation_multiplier <= 0:
            raise ValueError("automation_multiplier must be > 0")
        if self.long_request_limit < 1 or self.long_request_s <= 0:
            raise ValueError("long_request_limit must be >= 1 and long_request_s > 0")
        if self.bulk_parallel_batches < 1:
            raise ValueError("bulk_parallel_batches must be >= 1")

    # -- costs --------------------------------------------------------------------------------
    def per_record_ms(self, sobject: str) -> float:
        """Server time of one record of `sobject`, automation included (0 when disabled)."""
        if not self.enabled:
            return 0.0
        base = self.record_ms.get(sobject, self.other_record_ms)
        return base * self.automation_multiplier

    def request_ms(self, records: Mapping[str, int]) -> float:
        """Server time of one API request that saved `records` ({object: count})."""
        if not self.enabled:
            return 0.0
        return self.request_overhead_ms + sum(
            n * self.per_record_ms(name) for name, n in records.items()
        )

    def bulk_batch_ms(self, sobject: str, n: int) -> float:
        """Processing time of one internal Bulk API 2.0 batch of `n` records."""
        if not self.enabled:
            return 0.0
        return self.bulk_batch_overhead_ms + n * self.per_record_ms(sobject)

    # -- configuration ------------------------------------------------------------------------
    def updated(self, data: Mapping[str, object]) -> CostModel:
        """A copy with a partial JSON update applied; ValueError on bad input."""
        known = set(asdict(self))
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown cost model option(s): {', '.join(sorted(unknown))}")
        changes: dict = {}
        for key, value in data.items():
            if key == "enabled":
                changes[key] = bool(value)
            elif key == "record_ms":
                if not isinstance(value, dict):
                    raise ValueError('record_ms must be an object like {"Contact": 10}')
                changes[key] = {**self.record_ms, **{str(k): float(v) for k, v in value.items()}}
            elif key in ("long_request_limit", "bulk_parallel_batches"):
                changes[key] = int(value)  # type: ignore[call-overload]
            else:
                changes[key] = float(value)  # type: ignore[arg-type]
        return replace(self, **changes)

    def to_json(self) -> dict:
        out = asdict(self)
        out["record_ms"] = dict(self.record_ms)
        return out


def parse_record_ms(specs: tuple[str, ...]) -> dict[str, float]:
    """`("Contact=10", "Case=15")` -> {"Contact": 10.0, "Case": 15.0} (merged over defaults)."""
    out = dict(DEFAULT_RECORD_MS)
    for spec in specs:
        name, sep, ms = spec.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--record-ms wants Object=ms, not {spec!r}")
        out[name.strip()] = float(ms)
    return out


# -- capacity ---------------------------------------------------------------------------------
STRATEGIES = ("graph", "collections", "bulk")


def capacity(
    model: CostModel,
    strategy: str,
    records: Mapping[str, int],
    concurrency: int,
    *,
    records_per_request: int | None = None,
) -> float:
    """Records/s the org absorbs for `strategy`, a mix of `records` ({object: count}, e.g. one
    customer's records) and `concurrency` requests in flight (all workers together).

    Let t = Σ n_o · r_o · m / Σ n_o be the mean server time per record (r_o: record_ms of object
    o, m: automation_multiplier), k the records one request carries, d = overhead + k · t one
    request's duration. Synchronous strategies (graph: k = the records of one customer, at most
    500 nodes; collections: k = 200):

        capacity = C_eff · k / d,   C_eff = concurrency, or min(concurrency, L) when d >= T

    (L = long_request_limit, T = long_request_s: only requests lasting T or more count against
    the limit; shorter ones are not capped by it). Bulk API 2.0 (client concurrency does not
    matter; the org processes P = bulk_parallel_batches internal batches of B = 10,000 at once):

        capacity = P · B / (batch_overhead + B · t)

    The job start delay is a one-off per job and is left out (it matters for small jobs only).
    Returns 0 with no records; infinity when the model is disabled (no server time at all).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    total = sum(records.values())
    if total <= 0 or concurrency <= 0:
        return 0.0
    if not model.enabled:
        return math.inf
    t = sum(n * model.per_record_ms(o) for o, n in records.items()) / total
    if strategy == "bulk":
        b = BULK_BATCH_RECORDS
        return model.bulk_parallel_batches * b / ((model.bulk_batch_overhead_ms + b * t) / 1000)
    if records_per_request is not None:
        k = records_per_request
    else:
        k = min(total, GRAPH_MAX_NODES) if strategy == "graph" else COLLECTION_MAX_RECORDS
    d_ms = model.request_overhead_ms + k * t
    c_eff = concurrency
    if d_ms >= model.long_request_s * 1000:
        c_eff = min(concurrency, model.long_request_limit)
    return c_eff * k / (d_ms / 1000)


def daily_capacity(model: CostModel, strategy: str, api_daily_max: int, per_request: int) -> float:
    """Records per rolling 24 h the allocations allow: bulk 150,000,000 (records, whatever the
    API calls); the others api_daily_max calls x `per_request` records."""
    if strategy == "bulk":
        return float(BULK_DAILY_RECORDS)
    return float(api_daily_max * per_request)


# -- concurrency accounting -------------------------------------------------------------------
class Concurrency:
    """Requests in flight in one org, the long-running ones (running `long_request_s` or more)
    among them, and their peaks. A request is refused on arrival while `long_request_limit`
    requests are long-running. A request becomes long-running by a `loop.call_later` timer
    (no task, no thread), cancelled when it ends first."""

    def __init__(self, model_of: Callable[[], CostModel]) -> None:
        self._model_of = model_of
        self.in_flight = 0
        self.long_running = 0
        self.peak_in_flight = 0
        self.peak_long_running = 0
        self.rejected = 0
        self.total = 0

    def enter(self) -> _Ticket:
        model = self._model_of()
        if self.long_running >= model.long_request_limit:
            self.rejected += 1
            raise long_txn_exceeded()
        self.in_flight += 1
        self.total += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        ticket = _Ticket(self)
        loop = asyncio.get_running_loop()
        ticket.timer = loop.call_later(model.long_request_s, ticket.became_long)
        return ticket

    def reset_peaks(self) -> None:
        self.peak_in_flight = self.in_flight
        self.peak_long_running = self.long_running
        self.rejected = 0
        self.total = 0

    def to_json(self) -> dict:
        model = self._model_of()
        return {
            "in_flight": self.in_flight,
            "long_running": self.long_running,
            "peak_in_flight": self.peak_in_flight,
            "peak_long_running": self.peak_long_running,
            "rejected": self.rejected,
            "requests": self.total,
            "long_request_limit": model.long_request_limit,
            "long_request_s": model.long_request_s,
        }


class _Ticket:
    __slots__ = ("_c", "done", "long", "started", "timer")

    def __init__(self, c: Concurrency) -> None:
        self._c = c
        self.long = False
        self.done = False
        self.started = time.monotonic()
        self.timer: asyncio.TimerHandle | None = None

    def became_long(self) -> None:
        if self.done:
            return
        self.long = True
        c = self._c
        c.long_running += 1
        c.peak_long_running = max(c.peak_long_running, c.long_running)

    def exit(self) -> None:
        if self.done:
            return
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
        c = self._c
        c.in_flight -= 1
        if self.long:
            c.long_running -= 1

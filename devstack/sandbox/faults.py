"""Fault injection and the daily API limit, both settable at run time through /__admin/faults.

Why: the worker's retry, timeout and back-off paths must be exercised against the same failures
production gives (latency, 500/503, hanging connections, REQUEST_LIMIT_EXCEEDED). Latency is an
`asyncio.sleep` and a hang waits on the shutdown event, so neither blocks the loop nor the stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import SfError

_ERROR_BODIES = {
    500: (
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you "
        "contact support: 1234567890-12345 (-1234567890)",
    ),
    502: ("SERVER_UNAVAILABLE", "Bad gateway"),
    503: ("SERVER_UNAVAILABLE", "Service temporarily unavailable, please retry"),
    504: ("SERVER_UNAVAILABLE", "Gateway timeout"),
}


HANG_POLL_S = 0.2


class HangInterrupted(Exception):
    """A hung request was released by server shutdown."""


@dataclass
class Faults:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rates: dict[str, float] = field(default_factory=dict)
    hang_rate: float = 0.0
    per_record_ms: float = 0.0  # server time per record saved, on top of latency_ms
    #: {"500": 2}: the next two API calls answer 500, whatever the rates (deterministic tests)
    fail_next: dict[str, int] = field(default_factory=dict)
    hanging: int = 0  # requests hanging right now
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def update(self, data: dict) -> None:
        """Apply a partial JSON update; raise ValueError on bad input (nothing changes then)."""
        latency = float(data.get("latency_ms", self.latency_ms))
        jitter = float(data.get("jitter_ms", self.jitter_ms))
        hang = float(data.get("hang_rate", self.hang_rate))
        per_record = float(data.get("per_record_ms", self.per_record_ms))
        rates = data.get("error_rates", self.error_rates)
        if not isinstance(rates, dict):
            raise ValueError('error_rates must be an object like {"500": 0.2}')
        rates = {str(int(k)): float(v) for k, v in rates.items()}
        fail_next = data.get("fail_next", self.fail_next)
        if not isinstance(fail_next, dict) or any(int(v) < 0 for v in fail_next.values()):
            raise ValueError('fail_next must be an object like {"500": 2}')
        fail_next = {str(int(k)): int(v) for k, v in fail_next.items() if int(v)}
        if latency < 0 or jitter < 0 or per_record < 0 or not 0 <= hang <= 1:
            raise ValueError(
                "latency_ms/jitter_ms/per_record_ms must be >= 0 and hang_rate within [0, 1]"
            )
        if any(not 0 <= v <= 1 for v in rates.values()) or sum(rates.values()) > 1:
            raise ValueError("error rates must be within [0, 1] and sum to at most 1")
        self.latency_ms, self.jitter_ms, self.hang_rate, self.error_rates = (
            latency,
            jitter,
            hang,
            rates,
        )
        self.per_record_ms = per_record
        self.fail_next = fail_next

    def to_json(self) -> dict:
        return {
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
            "error_rates": dict(self.error_rates),
            "hang_rate": self.hang_rate,
            "per_record_ms": self.per_record_ms,
            "fail_next": dict(self.fail_next),
        }

    async def records_saved(self, n: int) -> None:
        """Server time for `n` records saved by one request: n x per_record_ms, asynchronously."""
        if n > 0 and self.per_record_ms > 0:
            await asyncio.sleep(n * self.per_record_ms / 1000)

    async def apply(self, shutdown: asyncio.Event, client_gone: Callable[[], bool]) -> None:
        """Sleep, hang or raise an injected error, as configured.

        A hang answers nothing until the server shuts down or the client gives up (checked every
        0.2 s), so hung requests never outlive their connection.
        """
        delay = self.latency_ms + (self.rng.uniform(0, self.jitter_ms) if self.jitter_ms else 0)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if self.hang_rate and self.rng.random() < self.hang_rate:
            self.hanging += 1
            try:
                while not shutdown.is_set() and not client_gone():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(shutdown.wait(), HANG_POLL_S)
            finally:
                self.hanging -= 1
            raise HangInterrupted
        for status, left in list(self.fail_next.items()):
            if left > 0:
                self.fail_next[status] = left - 1
                code, message = _ERROR_BODIES.get(int(status), ("UNKNOWN_EXCEPTION", "error"))
                raise SfError(int(status), code, message)
        if self.error_rates:
            draw = self.rng.random()
            for status, rate in self.error_rates.items():
                if draw < rate:
                    code, message = _ERROR_BODIES.get(int(status), ("UNKNOWN_EXCEPTION", "error"))
                    raise SfError(int(status), code, message)
                draw -= rate


# -- record faults: a share of one object's records fails, predictably -----------------------------
DEFAULT_RECORD_FAULT_CODE = "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def would_fail(sobject: str, external_id: str, rate: float, seed: int) -> bool:
    """True when a record fault of `rate` on `sobject` fails the record keyed `external_id`.

    Pure and stable across processes (sha256, not hash()), so a test can predict which customers
    fail: the key is the record's external id value (Legacy_Id__c on V2) when it has one, else
    its 18-char Id; `seed` is the org's --seed. The object name is compared case-insensitively.
    """
    if rate <= 0:
        return False
    if rate >= 1:
        return True
    digest = hashlib.sha256(f"{seed}:{sobject.lower()}:{external_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


@dataclass(frozen=True)
class RecordFault:
    """Records of one object fail at `rate` with `code` on `field` (field may be None)."""

    sobject: str
    rate: float
    code: str = DEFAULT_RECORD_FAULT_CODE
    field: str | None = None

    @property
    def rule_name(self) -> str:
        """The developer name of the validation rule this fault stands for."""
        name = f"Sandbox_{self.sobject}_{self.field or 'Record'}"
        return name.replace("__c", "").replace("__", "_")

    @property
    def message(self) -> str:
        where = f"{self.sobject}.{self.field}" if self.field else self.sobject
        return f"{where} rejected by {self.rule_name} (sandbox record fault)"

    def error(self) -> SfError:
        return SfError(400, self.code, self.message, [self.field] if self.field else [])

    def to_json(self) -> dict:
        return {"rate": self.rate, "code": self.code, "field": self.field}


def parse_record_fault(spec: str) -> RecordFault:
    """`Contact=0.1:FIELD_CUSTOM_VALIDATION_EXCEPTION:Email` (code and field optional)."""
    sobject, sep, rest = spec.partition("=")
    if not sep or not sobject.strip():
        raise ValueError(f"--fail-records wants Object=rate[:CODE[:Field]], not {spec!r}")
    rate, _, tail = rest.partition(":")
    code, _, fname = tail.partition(":")
    return _record_fault(sobject.strip(), {"rate": rate, "code": code, "field": fname})


def _record_fault(sobject: str, data: object) -> RecordFault:
    if not isinstance(data, dict):
        raise ValueError(f'record fault of {sobject} must be like {{"rate": 0.1, ...}}')
    try:
        rate = float(data.get("rate", 0))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"record fault rate of {sobject} must be a number") from exc
    if not 0 <= rate <= 1:
        raise ValueError(f"record fault rate of {sobject} must be within [0, 1]")
    code = str(data.get("code") or DEFAULT_RECORD_FAULT_CODE).strip()
    if not code.replace("_", "").isalnum() or code.upper() != code:
        raise ValueError(f"record fault code of {sobject} must be like FIELD_CUSTOM_VALIDATION_...")
    fname = data.get("field") or None
    return RecordFault(sobject, rate, code, str(fname).strip() if fname else None)


@dataclass
class RecordFaults:
    """The record faults of one org, by object name (set with --fail-records or the admin API)."""

    seed: int = 0
    by_object: dict[str, RecordFault] = field(default_factory=dict)

    def replace(self, faults: list[RecordFault]) -> None:
        self.by_object = {f.sobject: f for f in faults}

    @staticmethod
    def from_json(data: object) -> list[RecordFault]:
        """`{"Contact": {"rate": 0.1, "code": "...", "field": "Email"}}`; `{}` clears."""
        if not isinstance(data, dict):
            raise ValueError('expected a JSON object like {"Contact": {"rate": 0.1}}')
        return [_record_fault(str(name), spec) for name, spec in data.items()]

    def to_json(self) -> dict:
        return {name: f.to_json() for name, f in self.by_object.items()}

    def check(self, sobject: str, key: str) -> None:
        """Raise the configured error when the record keyed `key` is one that fails."""
        fault = self.by_object.get(sobject)
        if fault is not None and would_fail(sobject, key, fault.rate, self.seed):
            raise fault.error()


@dataclass
class ApiUsage:
    """DailyApiRequests: calls to /services/data count, login and admin calls do not."""

    daily_max: int
    used: int = 0
    limit_after: int | None = None
    _cutoff: int | None = None
    #: Bulk API batches used in the rolling 24 h (set by the org's Bulk API 2.0 jobs)
    bulk_batches_used: Callable[[], int] = lambda: 0
    bulk_batches_max: int = 15000

    def set_limit_after(self, n: int | None) -> None:
        self.limit_after = n
        self._cutoff = None if n is None else self.used + n

    def check(self) -> None:
        ceiling = self.daily_max if self._cutoff is None else min(self.daily_max, self._cutoff)
        if self.used >= ceiling:
            raise SfError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")

    def consume(self) -> None:
        self.used += 1

    def header(self) -> str:
        return f"api-usage={self.used}/{self.daily_max}"

    def limits_body(self) -> dict:
        return {
            "DailyApiRequests": {
                "Max": self.daily_max,
                "Remaining": max(0, self.daily_max - self.used),
            },
            "DailyBulkApiBatches": {
                "Max": self.bulk_batches_max,
                "Remaining": max(0, self.bulk_batches_max - self.bulk_batches_used()),
            },
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
        }

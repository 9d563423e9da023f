"""One concurrency budget per org, shared by every worker: leases on numbered slots.

Salesforce refuses a request (``REQUEST_LIMIT_EXCEEDED``, "ConcurrentPerOrgLongTxn Limit
exceeded.") that arrives while 25 requests of the org have each run 20 s or more. That limit is
the org's, not a worker's: N workers x ``MIGRATION_LOAD_CONCURRENCY`` (plus every other
integration of the org) share it. A worker cannot tell in advance which request will run long,
so the budget counts every request in flight: a worker sends a request to the org only while it
holds one of the org's ``concurrent_requests`` slots, whatever else it does.

Why leases in PostgreSQL, and not a share by owned partitions:

- A partition share (``limit x owned / total``) needs no round trip, but during a rebalance the
  old owner's requests are still in flight while the new owner starts its own, so the sum
  overshoots exactly when workers come and go; idle partitions hold budget busy ones need; and a
  worker with few partitions but big customers is starved; and a partition count says nothing
  about what a worker has in flight (its rollbacks, sampled verifies, reference data reads).
- A lease is a row per slot (``org_concurrency_slot``: org, slot number < limit, holder,
  expires_at). Taking free slots is an ``UPDATE`` of rows picked ``FOR UPDATE SKIP LOCKED`` with
  ``expires_at <= now()``: PostgreSQL re-checks the condition on the latest row version, so two
  workers can never both hold a slot, whatever the timing, and racing workers skip each other's
  rows instead of waiting (no deadlock); the sum of held slots never exceeds the limit. A killed
  worker's slots come back when their lease expires (``LEASE_TTL_S``).
- Round trips stay off the hot path: a worker leases slots in blocks and renews them once a
  second (a few statements, each bounded by the audit pool's timeouts, all async on aiopg: never
  blocking the loop), and hands them to its own calls locally (:class:`Limiter`, no I/O).
- Fair: each worker publishes what it wants (its peak demand over the last second, at most its
  executor's threads) in ``org_concurrency_member``; every worker computes the same max-min fair
  split of the limit (:func:`fair_shares`) and gives back what is above its share, so a
  newcomer gets its part within about a second, and an idle worker holds nothing.

Failure modes: PostgreSQL down: the worker keeps the slots it holds until its lease would have
expired (``LEASE_TTL_S`` minus a margin, on the local clock), then stops sending requests until
leases can be taken again (the audit writes wait for PostgreSQL anyway). A worker whose renewal
comes too late (loop stalled for longer than the lease) loses the slots another worker took;
the requests it already has in flight finish, the only moment the sum can exceed the limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from migration_app.backoff import backoff_delays

log = logging.getLogger(__name__)

#: A slot not renewed for this long is free again (a killed worker's slots come back).
LEASE_TTL_S = 15.0
#: How often a worker renews its slots and re-reads the others' demand.
SYNC_INTERVAL_S = 1.0
#: How often a worker whose calls wait for a slot tries again to take one.
STARVED_INTERVAL_S = 0.25
#: The local deadline stops this long before the lease's, against clock drift and slow answers.
LEASE_MARGIN_S = 3.0


# --- the local part: pure, no I/O -----------------------------------------------------------


class Limiter:
    """A FIFO counting semaphore whose capacity changes (the slots this worker holds).

    ``acquire(priority=True)`` goes to the head of the queue (health probes). Capacity shrinking
    below ``in_use`` takes nothing away from calls already running: new calls wait."""

    def __init__(self, capacity: int = 0) -> None:
        self.capacity = capacity
        self.in_use = 0
        self.peak_demand = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for fut in self._waiters if not fut.done())

    @property
    def demand(self) -> int:
        return self.in_use + self.waiting

    def take_peak(self) -> int:
        """The highest demand since the last call (then reset to the current demand)."""
        peak, self.peak_demand = max(self.peak_demand, self.demand), self.demand
        return peak

    def try_acquire(self) -> bool:
        if self.in_use < self.capacity and not self._waiters:
            self.in_use += 1
            self.peak_demand = max(self.peak_demand, self.demand)
            return True
        return False

    async def acquire(self, *, priority: bool = False) -> None:
        if self.try_acquire():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if priority:
            self._waiters.appendleft(fut)
        else:
            self._waiters.append(fut)
        self.peak_demand = max(self.peak_demand, self.demand)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # granted just as we were cancelled: pass it on
            else:
                self._discard(fut)
            raise

    def release(self) -> None:
        self.in_use -= 1
        self._grant()

    def set_capacity(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._grant()

    def _discard(self, fut: asyncio.Future[None]) -> None:
        try:
            self._waiters.remove(fut)
        except ValueError:
            pass

    def _grant(self) -> None:
        while self._waiters and self.in_use < self.capacity:
            fut = self._waiters.popleft()
            if not fut.done():
                self.in_use += 1
                fut.set_result(None)


def fair_shares(limit: int, wants: Mapping[str, int]) -> dict[str, int]:
    """Max-min fair split of ``limit`` slots among holders wanting ``wants`` (water-filling):
    nobody gets more than it wants, what the modest leave goes to the hungry, remainders to the
    holders first in name order (every worker computes the same split from the same rows)."""
    shares = dict.fromkeys(wants, 0)
    left = max(0, limit)
    hungry = sorted(h for h, w in wants.items() if w > 0)
    while left > 0 and hungry:
        each = left // len(hungry)
        if each == 0:
            for holder in hungry[:left]:
                shares[holder] += 1
            break
        still = []
        for holder in hungry:
            give = min(each, wants[holder] - shares[holder])
            shares[holder] += give
            left -= give
            if shares[holder] < wants[holder]:
                still.append(holder)
        hungry = still
    return shares


@dataclass(frozen=True)
class Step:
    """What one sync does: give back ``release`` idle slots, try to take ``acquire`` more."""

    acquire: int
    release: int


def plan(held: int, in_use: int, target: int) -> Step:
    """Slots to take or give back to move from ``held`` to ``target``; only idle slots can be
    given back now (the rest on the next sync, once their calls finished)."""
    if held > target:
        return Step(acquire=0, release=max(0, min(held - target, held - in_use)))
    return Step(acquire=target - held, release=0)


# --- the shared part: leases ------------------------------------------------------------------


class LeaseStore(Protocol):
    """Where the slots live (``migration_app.audit.concurrency_leases`` in PostgreSQL)."""

    async def publish(
        self, org: str, holder: str, *, wants: int, in_use: int, held: int, limit: int, ttl: float
    ) -> dict[str, int]:
        """Record this holder's demand; return every live holder's (this one included)."""

    async def renew(self, org: str, holder: str, *, ttl: float) -> list[int]:
        """Extend this holder's slots; return the slots it still holds."""

    async def acquire(self, org: str, holder: str, *, limit: int, n: int, ttl: float) -> list[int]:
        """Take up to ``n`` free slots below ``limit``; return those taken."""

    async def release(self, org: str, holder: str, slots: list[int]) -> None: ...

    async def release_all(self, org: str, holder: str) -> None: ...


@dataclass
class BudgetStats:
    """Counters for /metrics and the console."""

    waits: int = 0  # calls that found no free slot and waited
    sync_failures: int = 0


class OrgBudget:
    """This worker's part of one org's budget: the slots it leases and hands to its calls."""

    def __init__(
        self,
        org: str,
        *,
        limit: int,
        local_max: int,
        holder: str,
        leases: LeaseStore,
        ttl: float = LEASE_TTL_S,
        interval: float = SYNC_INTERVAL_S,
    ) -> None:
        self.org = org
        self.limit = limit
        self.local_max = local_max
        self.holder = holder
        self.ttl = ttl
        self.interval = interval
        self.limiter = Limiter(0)
        self.stats = BudgetStats()
        self._leases = leases
        self._held: set[int] = set()
        self._deadline = 0.0  # monotonic: the held slots are ours until then
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def in_use(self) -> int:
        return self.limiter.in_use

    async def acquire(self, *, priority: bool = False) -> None:
        """Take one of the org's slots for one request (waits while none is free)."""
        if not self.limiter.try_acquire():
            self.stats.waits += 1
            self._wake.set()  # maybe more slots can be had now
            await self.limiter.acquire(priority=priority)

    def release(self) -> None:
        self.limiter.release()

    @asynccontextmanager
    async def slot(self, *, priority: bool = False) -> AsyncIterator[None]:
        """Hold one of the org's slots for the duration of one request."""
        await self.acquire(priority=priority)
        try:
            yield
        finally:
            self.release()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"concurrency-budget-{self.org}")

    async def stop(self) -> None:
        """Stop renewing and give every slot back (its calls are over: the executor is shut)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.limiter.set_capacity(0)
        self._held.clear()
        try:
            async with asyncio.timeout(self.interval * 3):
                await self._leases.release_all(self.org, self.holder)
        except Exception as exc:  # the leases expire on their own
            log.warning("%s: concurrency slots not released (%s); they expire", self.org, exc)

    async def _run(self) -> None:
        delays = backoff_delays(0.5, 5.0)
        while True:
            try:
                await self.sync()
                delays = backoff_delays(0.5, 5.0)
                starved = self.limiter.waiting and self.held < self.local_max
                timeout = STARVED_INTERVAL_S if starved else self.interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.sync_failures += 1
                timeout = next(delays)
                if time.monotonic() >= self._deadline and self._held:
                    log.warning("%s: concurrency leases lost (%s): pausing calls", self.org, exc)
                    self._held.clear()
                    self.limiter.set_capacity(0)
                else:
                    log.info("%s: concurrency leases not renewed (%s)", self.org, exc)
            self._wake.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def sync(self) -> None:
        """One round: publish demand, renew, give back above the fair share, take up to it."""
        started = time.monotonic()
        wants = min(self.local_max, self.limiter.take_peak())
        leases, org, holder = self._leases, self.org, self.holder
        async with asyncio.timeout(max(self.ttl - LEASE_MARGIN_S, 1.0)):
            members = await leases.publish(
                org,
                holder,
                wants=wants,
                in_use=self.in_use,
                held=self.held,
                limit=self.limit,
                ttl=self.ttl,
            )
            members[holder] = wants
            self._held = set(await leases.renew(org, holder, ttl=self.ttl))
            self._deadline = started + self.ttl - LEASE_MARGIN_S
            target = fair_shares(self.limit, members)[holder]
            step = plan(self.held, self.in_use, target)
            if step.release:
                give_back = sorted(self._held)[-step.release :]
                self._held.difference_update(give_back)
                self.limiter.set_capacity(self.held)
                await leases.release(org, holder, give_back)
            if step.acquire:
                taken = await leases.acquire(
                    org, holder, limit=self.limit, n=step.acquire, ttl=self.ttl
                )
                self._held.update(taken)
        self.limiter.set_capacity(self.held)

    def snapshot(self) -> dict[str, int]:
        return {
            "limit": self.limit,
            "held": self.held,
            "in_use": self.in_use,
            "waiting": self.limiter.waiting,
            "waits": self.stats.waits,
        }

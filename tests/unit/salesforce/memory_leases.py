"""An in-memory LeaseStore for tests of the concurrency budget (salesforce/budget.py)."""

from __future__ import annotations


class MemoryLeases:
    """A LeaseStore in a dict, with the same rules as the SQL: a slot has one holder."""

    def __init__(self) -> None:
        self.slots: dict[tuple[str, int], str] = {}
        self.members: dict[tuple[str, str], int] = {}
        self.fail = False

    def _check(self) -> None:
        if self.fail:
            raise OSError("database down")

    async def publish(self, org, holder, *, wants, in_use, held, limit, ttl):
        self._check()
        self.members[(org, holder)] = wants
        return {h: w for (o, h), w in self.members.items() if o == org}

    async def renew(self, org, holder, *, ttl):
        self._check()
        return [s for (o, s), h in self.slots.items() if o == org and h == holder]

    async def acquire(self, org, holder, *, limit, n, ttl):
        self._check()
        free = [s for s in range(limit) if (org, s) not in self.slots][:n]
        for s in free:
            self.slots[(org, s)] = holder
        return free

    async def release(self, org, holder, slots):
        for s in slots:
            if self.slots.get((org, s)) == holder:
                del self.slots[(org, s)]

    async def release_all(self, org, holder):
        for key, h in list(self.slots.items()):
            if key[0] == org and h == holder:
                del self.slots[key]
        self.members.pop((org, holder), None)

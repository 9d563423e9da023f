"""The runtime's V2 reference data cache: one query per object per refresh, snapshots swapped
whole, nothing read for a mapping without owner or record type rules."""

from __future__ import annotations

from typing import Any

from migration_app.migration.spec import MappingSpec
from migration_app.worker.reference_cache import ReferenceCache
from tests.support.mapping import field_rules_only


class CountingOrg:
    def __init__(self) -> None:
        self.queries: list[str] = []
        self.users = [
            {"Id": "005A", "Username": "a@v2", "Email": "A@x.example", "IsActive": True},
        ]

    async def query_all(self, soql: str) -> list[dict[str, Any]]:
        self.queries.append(soql)
        if " FROM User" in soql:
            return list(self.users)
        return [{"Id": "012A", "DeveloperName": "SME", "SobjectType": "Account", "IsActive": True}]


async def test_one_query_per_object_and_refresh_swaps_the_snapshot(full_spec: MappingSpec) -> None:
    org = CountingOrg()
    cache = ReferenceCache(full_spec, org)
    assert cache.snapshot() is None  # not loaded: the pipeline waits (transient) rather than guess
    first = await cache.refresh()
    assert len(org.queries) == 2
    assert "FROM RecordType WHERE SobjectType IN ('Account', 'Case')" in org.queries[1]
    assert first.users_by_key["a@x.example"].id == "005A"
    org.users = [{"Id": "005B", "Username": "b@v2", "Email": "a@x.example", "IsActive": True}]
    second = await cache.refresh()
    assert cache.snapshot() is second and second.users_by_key["a@x.example"].id == "005B"
    assert first.users_by_key["a@x.example"].id == "005A"  # a batch's snapshot never changes
    assert len(org.queries) == 4


async def test_no_rules_no_queries() -> None:
    org = CountingOrg()
    cache = ReferenceCache(field_rules_only(), org)
    assert cache.snapshot() is not None
    await cache.refresh()
    assert org.queries == []

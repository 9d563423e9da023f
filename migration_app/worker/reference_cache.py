"""V2's users and record types, cached for the transform: read once at start, refreshed on a
timer, never per record.

Why: owners and record types resolve against V2's reference data for every record of every
customer; a query per record (or per batch) would multiply API calls. One query per object at
start and one per refresh interval costs nothing per customer. The snapshot is immutable and
swapped whole, so a batch sees one consistent view even while a refresh lands.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from migration_app.migration.reference_rules import ReferenceData
from migration_app.migration.spec import MappingSpec

log = logging.getLogger(__name__)


class QueryOrg(Protocol):
    async def query_all(self, soql: str) -> list[dict[str, Any]]: ...


def reference_queries(spec: MappingSpec) -> tuple[str, str]:
    """The two SOQL reads (User, RecordType) the cache makes per refresh."""
    objects = sorted({o.target for o in spec.objects if o.record_type is not None}) or ["-"]
    in_list = ", ".join(f"'{name}'" for name in objects)
    return (
        "SELECT Id, Username, Email, FederationIdentifier, IsActive FROM User",
        f"SELECT Id, DeveloperName, SobjectType, IsActive FROM RecordType "
        f"WHERE SobjectType IN ({in_list})",
    )


class ReferenceCache:
    """The current snapshot; `refresh()` replaces it (the runtime calls it at start, then on a
    timer). `snapshot()` is what the pipeline reads once per batch."""

    def __init__(self, spec: MappingSpec, org: QueryOrg) -> None:
        self.spec = spec
        self.org = org
        self._snapshot: ReferenceData | None = (
            None if spec.needs_reference_data else ReferenceData()
        )
        self.refreshes = 0

    def snapshot(self) -> ReferenceData | None:
        return self._snapshot

    async def refresh(self) -> ReferenceData:
        """Read V2's users and record types (one query each) and swap the snapshot in."""
        if not self.spec.needs_reference_data:
            return self._snapshot or ReferenceData()
        users_soql, types_soql = reference_queries(self.spec)
        users = await self.org.query_all(users_soql)
        record_types = await self.org.query_all(types_soql)
        snapshot = ReferenceData.from_rows(self.spec.owners, users, record_types, time.time())
        self._snapshot = snapshot
        self.refreshes += 1
        log.info("reference data: %d V2 users, %d record types", len(users), len(record_types))
        return snapshot

"""Data-quality findings raised while transforming one V1 record.

Issues travel with the customer's plan into the audit table (one row each), so they carry
everything an operator needs to find the record again: V1 object, V1 id and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["warning", "error"]

WARNING: Severity = "warning"
ERROR: Severity = "error"

# Issue codes: stable strings, stored in the audit table and counted in dashboards.
VALUE_DROPPED = "VALUE_DROPPED"  # value unusable in V2 (invalid email, unparsable phone)
NORMALISED = "NORMALISED"  # value rewritten and something was lost (e.g. phone extension)
TRUNCATED = "TRUNCATED"  # value cut to the V2 field length
REQUIRED_MISSING = "REQUIRED_MISSING"  # required value absent after transforms: record rejected
UNMAPPABLE = "UNMAPPABLE"  # picklist value not in the map (dropped, defaulted or rejected)
REFERENCE_DROPPED = "REFERENCE_DROPPED"  # referenced record not migrated with this customer
OWNER_FALLBACK = "OWNER_FALLBACK"  # V1 owner inactive/missing in V2: the declared fallback owns it
OWNER_UNRESOLVED = "OWNER_UNRESOLVED"  # no usable V2 owner and the policy says error: rejected
RECORD_TYPE_FALLBACK = "RECORD_TYPE_FALLBACK"  # V1 record type has no active V2 one: fallback
RECORD_TYPE_UNRESOLVED = "RECORD_TYPE_UNRESOLVED"  # ... and the policy says error: rejected
CREATED_DATE_NOT_SET = "CREATED_DATE_NOT_SET"  # record existed in V2: audit fields insert-only
CONFLICT = "CONFLICT"  # changed in V2 by someone else since our write: the on_conflict policy


@dataclass(frozen=True, slots=True)
class Issue:
    """One warning or error about one field (or the whole record when field is None)."""

    severity: Severity
    object: str  # V1 object name
    legacy_id: str | None  # V1 record Id
    field: str | None  # V1 field name
    code: str
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

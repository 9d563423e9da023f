"""What a Salesforce record Id looks like: 15 case-sensitive or 18 case-safe alphanumerics."""

from __future__ import annotations

import re
from collections.abc import Iterable

SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


def is_salesforce_id(value: object) -> bool:
    return isinstance(value, str) and SALESFORCE_ID.fullmatch(value) is not None


def checked_ids(values: Iterable[str]) -> list[str]:
    """Sorted unique Salesforce ids; anything else raises ValueError, so no caller text reaches
    a SOQL ``IN (...)`` unchecked."""
    ids = sorted(set(values))
    for value in ids:
        if not is_salesforce_id(value):
            raise ValueError(f"not a Salesforce id: {value!r}")
    return ids


def soql_in_list(ids: Iterable[str]) -> str:
    """``'a','b'``: the inside of a SOQL ``IN (...)`` for ids already checked."""
    return ",".join(f"'{i}'" for i in ids)

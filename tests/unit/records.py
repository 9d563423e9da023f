"""V1 records as SOQL returns them: the ids the record factories give (``make_account``,
``make_contact``, ..., tests/unit/conftest.py) and the subquery shape of a parent's children."""

from __future__ import annotations

from typing import Any

ACCOUNT_ID = "001000000000001AAA"


def sf_id(prefix: str, n: int) -> str:
    """The V1 id the record factories give record ``n`` of the object with this key prefix."""
    return f"{prefix}{n:012d}AAA"


def subquery(records: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    if records is None:
        return None
    return {"totalSize": len(records), "done": True, "records": records}

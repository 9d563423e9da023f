"""Salesforce record ids: 15-char base ids with the 3-char case-safe checksum suffix.

Why: clients (and the mapping) treat ids as opaque but real-looking ones catch bugs early: wrong key
prefix, 15 vs 18 chars, or an id from the other org. The org is encoded in chars 4-5 so the two
sandbox orgs can never produce the same id.
"""

from __future__ import annotations

import string

_CHECKSUM_ALPHABET = string.ascii_uppercase + "012345"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_VALID = frozenset(_BASE62)
_COUNTER_WIDTH = 9


def checksum(id15: str) -> str:
    """Return the 3-char suffix: one bit per uppercase letter in each 5-char chunk."""
    out = []
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = 0
        for i, ch in enumerate(chunk):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_CHECKSUM_ALPHABET[bits])
    return "".join(out)


def to_18(record_id: str) -> str:
    """Return the 18-char form of a 15- or 18-char id; raise ValueError when malformed."""
    if len(record_id) not in (15, 18) or not set(record_id) <= _VALID:
        raise ValueError(f"malformed id: {record_id!r}")
    base = record_id[:15]
    suffix = checksum(base)
    if len(record_id) == 18 and record_id[15:].upper() != suffix:
        raise ValueError(f"bad checksum: {record_id!r}")
    return base + suffix


def normalize(record_id: object) -> str | None:
    """Return the 18-char id, or None when the value is not a well-formed id."""
    if not isinstance(record_id, str):
        return None
    try:
        return to_18(record_id)
    except ValueError:
        return None


def key_prefix(record_id: str) -> str:
    return record_id[:3]


def _base62(n: int, width: int) -> str:
    chars = []
    while n:
        n, r = divmod(n, 62)
        chars.append(_BASE62[r])
    text = "".join(reversed(chars)) or "0"
    if len(text) > width:
        raise OverflowError("id counter exhausted")
    return text.rjust(width, "0")


class IdFactory:
    """Makes ids for one org: prefix(3) + org code(2) + '0' + base62 counter(9) + checksum(3)."""

    def __init__(self, org_code: str) -> None:
        if len(org_code) != 2 or not set(org_code) <= _VALID:
            raise ValueError("org_code must be 2 base62 chars")
        self.org_code = org_code
        self._counters: dict[str, int] = {}

    def new_id(self, prefix: str) -> str:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        base = f"{prefix}{self.org_code}0{_base62(n, _COUNTER_WIDTH)}"
        return base + checksum(base)

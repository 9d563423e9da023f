"""``chunked``: consecutive slices of a sequence, for every limit per request (collections,
ids per query, ids per delete)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def chunked(seq: Sequence[T], n: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most n items (the last may be shorter)."""
    if n <= 0:
        raise ValueError(f"chunk size must be positive, got {n}")
    for start in range(0, len(seq), n):
        yield seq[start : start + n]

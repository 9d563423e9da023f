"""Salesforce id checksum and the sandbox's id factory."""

from __future__ import annotations

import pytest

from devstack.sandbox import ids


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        ("001000000000000", "001000000000000AAA"),
        ("001D000000IqhSL", "001D000000IqhSLIAZ"),  # the example Salesforce's docs use
        ("0013000000AbCdE", "0013000000AbCdEAAV"),  # bits 0,2,4 of chunk 3 -> 21 -> 'V'
        ("a0B5g00000XyZ12", "a0B5g00000XyZ12EAF"),
    ],
)
def test_checksum_known_values(id15: str, id18: str) -> None:
    assert ids.to_18(id15) == id18
    assert ids.to_18(id18) == id18
    assert ids.to_18(id18[:15] + id18[15:].lower()) == id18  # suffix is case-insensitive


def test_checksum_bits() -> None:
    # Chunk 1 "ABCDE": all five upper -> 31 -> '5'; chunk 2 "a0000": 0 -> 'A'; "0000Z": 16 -> 'Q'.
    assert ids.checksum("ABCDEa00000000Z") == "5AQ"


@pytest.mark.parametrize("bad", ["", "001", "001000000000000AAB", "001-00000000000", 42, None])
def test_malformed_ids(bad: object) -> None:
    assert ids.normalize(bad) is None


def test_factory_encodes_org_and_never_collides() -> None:
    a, b = ids.IdFactory("1S"), ids.IdFactory("2S")
    first = [a.new_id("001") for _ in range(1000)]
    second = [b.new_id("001") for _ in range(1000)]
    assert not set(first) & set(second)
    assert all(len(i) == 18 and i.startswith("0011S") and ids.normalize(i) == i for i in first)
    assert first == sorted(first)  # fixed-width base62 counters sort in creation order


def test_factory_prefixes_are_independent() -> None:
    f = ids.IdFactory("1S")
    assert f.new_id("003")[:3] == "003"
    assert f.new_id("a0A").startswith("a0A1S0")

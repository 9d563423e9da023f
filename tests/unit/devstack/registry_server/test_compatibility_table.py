"""Confluent/Avro compatibility decisions, one row per (level, old, new, expected)."""

from __future__ import annotations

import json

import pytest

from devstack.registry_server.canonical import parse
from devstack.registry_server.compatibility import check
from tests.unit.devstack.registry_server.compat_cases import B_NODEF, TABLE, A, rec


def _parse(schema: object):
    return parse(json.dumps(schema))  # the registry receives schemas as JSON text


def test_table_is_big_enough() -> None:
    assert len(TABLE) >= 30
    assert {row[3] for row in TABLE} == {True, False}


@pytest.mark.parametrize(("level", "old", "new", "expected"), TABLE)
def test_compatibility(level: str, old: list[object], new: object, expected: bool) -> None:
    messages = check(level, _parse(new), [_parse(o) for o in old])
    assert (not messages) is expected, messages


def test_incompatibility_messages_name_the_problem() -> None:
    messages = check("BACKWARD", parse(rec(A, B_NODEF)), [parse(rec(A))])
    assert any("READER_FIELD_MISSING_DEFAULT_VALUE" in m for m in messages)
    assert messages[-1] == "{compatibility: 'BACKWARD'}"


def test_unknown_level_is_an_error() -> None:
    with pytest.raises(ValueError):
        check("SIDEWAYS", parse(rec(A)), [parse(rec(A))])

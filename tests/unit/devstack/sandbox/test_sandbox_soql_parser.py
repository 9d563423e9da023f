"""The SOQL parser alone (pure: text -> AST, or MALFORMED_QUERY)."""

from __future__ import annotations

import pytest

from devstack.sandbox.errors import SfError
from devstack.sandbox.soql import (
    BoolOp,
    Comparison,
    Count,
    Literal,
    Not,
    OrderItem,
    Query,
    parse,
    tokenize,
)


def test_fields_parents_and_subqueries() -> None:
    q = parse(
        "select Id, Account.Name, (SELECT Id FROM Contacts WHERE LastName != null "
        "ORDER BY LastName LIMIT 3), (select Id from Meters__r) FROM Account"
    )
    assert q.sobject == "Account"
    assert q.fields[:2] == ["Id", "Account.Name"]
    sub = q.fields[2]
    assert isinstance(sub, Query) and sub.sobject == "Contacts" and sub.limit == 3
    assert sub.where == Comparison("LastName", "!=", Literal("null", None))
    assert sub.order_by == [OrderItem("LastName")]
    assert isinstance(q.fields[3], Query) and q.fields[3].sobject == "Meters__r"


def test_where_precedence_not_and_or() -> None:
    q = parse("SELECT Id FROM A WHERE a = 1 OR b = 2 AND NOT c = 3")
    assert q.where == BoolOp(
        "or",
        (
            Comparison("a", "=", Literal("number", 1)),
            BoolOp(
                "and",
                (
                    Comparison("b", "=", Literal("number", 2)),
                    Not(Comparison("c", "=", Literal("number", 3))),
                ),
            ),
        ),
    )
    q = parse("SELECT Id FROM A WHERE (a = 1 OR b = 2) AND c = 3")
    assert isinstance(q.where, BoolOp) and q.where.op == "and"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "x IN ('a', 'b')",
            Comparison("x", "in", (Literal("string", "a"), Literal("string", "b"))),
        ),
        ("x NOT IN ('a')", Comparison("x", "notin", (Literal("string", "a"),))),
        ("x LIKE 'a%'", Comparison("x", "like", Literal("string", "a%"))),
        ("x <> 'a'", Comparison("x", "!=", Literal("string", "a"))),
        ("x <= -1.5", Comparison("x", "<=", Literal("number", -1.5))),
        ("x >= 2024-01-31", Comparison("x", ">=", Literal("date", "2024-01-31"))),
        (
            "x > 2024-01-31T10:00:00Z",
            Comparison("x", ">", Literal("datetime", "2024-01-31T10:00:00Z")),
        ),
        ("x = TRUE", Comparison("x", "=", Literal("boolean", True))),
        ("x = false", Comparison("x", "=", Literal("boolean", False))),
        ("x = 'it\\'s \\\\ \\n'", Comparison("x", "=", Literal("string", "it's \\ \n"))),
    ],
)
def test_comparisons_and_literals(text: str, expected: Comparison) -> None:
    assert parse(f"SELECT Id FROM A WHERE {text}").where == expected


def test_order_limit_offset_count() -> None:
    q = parse("SELECT Id FROM A ORDER BY Name DESC NULLS LAST, Id LIMIT 10 OFFSET 20")
    assert q.order_by == [OrderItem("Name", True, True), OrderItem("Id")]
    assert (q.limit, q.offset) == (10, 20)
    assert parse("SELECT COUNT() FROM A").fields == [Count(None, None)]
    assert parse("SELECT COUNT(Id) total FROM A").fields == [Count("Id", "total")]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "SELECT",
        "SELECT Id",
        "SELECT Id FROM",
        "SELECT Id FROM A WHERE",
        "SELECT Id FROM A x",
        "SELECT Id FROM A WHERE x = ",
        "SELECT Id FROM A WHERE x ~ 1",
        "SELECT Id FROM A LIMIT x",
        "SELECT Id FROM A WHERE x = 'unterminated",
        "SELECT Id FROM A WHERE x = 'bad \\q escape'",
        "SELECT (SELECT (SELECT Id FROM C) FROM B) FROM A",
        "SELECT Id FROM A WHERE x IN (SELECT y FROM B) OR x = null",
        "SELECT Id,, Name FROM A",
    ],
)
def test_malformed(bad: str) -> None:
    with pytest.raises(SfError) as err:
        parse(bad)
    assert err.value.code == "MALFORMED_QUERY" and err.value.status == 400


def test_tokenizer_keeps_dotted_paths() -> None:
    assert [t.text for t in tokenize("Account__r.Owner.Name, x")] == [
        "Account__r.Owner.Name",
        ",",
        "x",
    ]

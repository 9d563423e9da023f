"""(level, old schemas oldest first, new schema, compatible?) rows that Confluent decides.

Shared by the pure unit test and the HTTP test, so both layers agree on the same rules.
"""

from __future__ import annotations


def rec(*fields: dict, name: str = "R", **extra: object) -> dict:
    return {"type": "record", "name": name, "fields": list(fields), **extra}


def f(name: str, type_: object, **extra: object) -> dict:
    return {"name": name, "type": type_, **extra}


def enum(*symbols: str, **extra: object) -> dict:
    return {"type": "enum", "name": "E", "symbols": list(symbols), **extra}


A = f("a", "string")
A_INT = f("a", "int")
B_DEF = f("b", "string", default="x")
B_NODEF = f("b", "string")
NULLABLE_A = f("a", ["null", "string"], default=None)

# (level, old schemas oldest first, new schema, compatible?)
TABLE: list[tuple[str, list[object], object, bool]] = [
    # -- BACKWARD: the new schema reads data written with the latest one
    ("BACKWARD", [rec(A)], rec(A, B_DEF), True),
    ("BACKWARD", [rec(A)], rec(A, B_NODEF), False),
    ("BACKWARD", [rec(A, B_NODEF)], rec(A), True),
    ("BACKWARD", [rec(A)], rec(f("a", "int")), False),
    ("BACKWARD", [rec(A_INT)], rec(f("a", "long")), True),
    ("BACKWARD", [rec(A_INT)], rec(f("a", "float")), True),
    ("BACKWARD", [rec(A_INT)], rec(f("a", "double")), True),
    ("BACKWARD", [rec(f("a", "long"))], rec(f("a", "float")), True),
    ("BACKWARD", [rec(f("a", "long"))], rec(A_INT), False),
    ("BACKWARD", [rec(f("a", "float"))], rec(f("a", "double")), True),
    ("BACKWARD", [rec(f("a", "double"))], rec(f("a", "float")), False),
    ("BACKWARD", [rec(A)], rec(f("a", "bytes")), True),
    ("BACKWARD", [rec(f("a", "bytes"))], rec(A), True),
    ("BACKWARD", [rec(A)], rec(f("a", ["null", "string"])), True),
    ("BACKWARD", [rec(NULLABLE_A)], rec(A), False),
    ("BACKWARD", [rec(NULLABLE_A)], rec(f("a", ["null", "string", "int"], default=None)), True),
    ("BACKWARD", [rec(A)], rec(A, name="Renamed"), False),
    ("BACKWARD", [rec(A)], rec(A, name="Renamed", aliases=["R"]), True),
    ("BACKWARD", [rec(A, name="R", namespace="x")], rec(A, name="R", namespace="y"), True),
    ("BACKWARD", [rec(A)], rec(f("a2", "string", aliases=["a"])), True),
    ("BACKWARD", [rec(f("e", enum("A", "B")))], rec(f("e", enum("A", "B", "C"))), True),
    ("BACKWARD", [rec(f("e", enum("A", "B", "C")))], rec(f("e", enum("A", "B"))), False),
    (
        "BACKWARD",
        [rec(f("e", enum("A", "B", "C")))],
        rec(f("e", enum("A", "B", default="A"))),
        True,
    ),
    (
        "BACKWARD",
        [rec(f("x", {"type": "array", "items": "int"}))],
        rec(f("x", {"type": "array", "items": "long"})),
        True,
    ),
    (
        "BACKWARD",
        [rec(f("x", {"type": "array", "items": "long"}))],
        rec(f("x", {"type": "array", "items": "int"})),
        False,
    ),
    (
        "BACKWARD",
        [rec(f("x", {"type": "map", "values": "string"}))],
        rec(f("x", {"type": "map", "values": "int"})),
        False,
    ),
    (
        "BACKWARD",
        [rec(f("x", {"type": "map", "values": "int"}))],
        rec(f("x", {"type": "map", "values": "double"})),
        True,
    ),
    (
        "BACKWARD",
        [rec(f("x", {"type": "fixed", "name": "F", "size": 4}))],
        rec(f("x", {"type": "fixed", "name": "F", "size": 8})),
        False,
    ),
    (
        "BACKWARD",
        [rec(f("n", rec(A, name="Inner")))],
        rec(f("n", rec(A, B_DEF, name="Inner"))),
        True,
    ),
    (
        "BACKWARD",
        [rec(f("n", rec(A, name="Inner")))],
        rec(f("n", rec(A, B_NODEF, name="Inner"))),
        False,
    ),
    (
        "BACKWARD",
        [rec(f("ts", {"type": "long", "logicalType": "timestamp-millis"}))],
        rec(f("ts", "long")),
        True,
    ),
    (
        "BACKWARD",
        [rec(f("next", ["null", "R"], default=None), A)],
        rec(f("next", ["null", "R"], default=None), A, B_DEF),
        True,
    ),
    ("BACKWARD", ["string"], ["null", "string"], True),
    ("BACKWARD", ["int"], "string", False),
    # -- FORWARD: the latest schema reads data written with the new one
    ("FORWARD", [rec(A)], rec(A, B_NODEF), True),
    ("FORWARD", [rec(A, B_NODEF)], rec(A), False),
    ("FORWARD", [rec(A, B_DEF)], rec(A), True),
    ("FORWARD", [rec(A_INT)], rec(f("a", "long")), False),
    ("FORWARD", [rec(f("a", "long"))], rec(A_INT), True),
    ("FORWARD", [rec(f("e", enum("A", "B")))], rec(f("e", enum("A", "B", "C"))), False),
    ("FORWARD", [rec(f("e", enum("A", "B", default="A")))], rec(f("e", enum("A", "B", "C"))), True),
    # -- FULL: both directions
    ("FULL", [rec(A)], rec(A, B_DEF), True),
    ("FULL", [rec(A)], rec(A, B_NODEF), False),
    ("FULL", [rec(A, B_DEF)], rec(A), True),
    ("FULL", [rec(A_INT)], rec(f("a", "long")), False),
    # -- NONE: anything goes
    ("NONE", [rec(A)], rec(f("a", "int")), True),
    ("NONE", [rec(A)], "string", True),
    # -- transitive levels look at every version, the plain ones only at the latest
    ("BACKWARD", [rec(A, B_NODEF), rec(A)], rec(A, f("b", "int", default=0)), True),
    ("BACKWARD_TRANSITIVE", [rec(A, B_NODEF), rec(A)], rec(A, f("b", "int", default=0)), False),
    ("FORWARD_TRANSITIVE", [rec(A), rec(A, B_DEF)], rec(A, B_DEF), True),
    ("FORWARD_TRANSITIVE", [rec(A, B_NODEF), rec(A, B_DEF)], rec(A), False),
    ("FULL_TRANSITIVE", [rec(A), rec(A, B_DEF)], rec(A, B_DEF, f("c", "int", default=1)), True),
    ("FULL", [rec(A_INT), rec(f("a", "long"))], rec(f("a", "long"), B_DEF), True),
    ("FULL_TRANSITIVE", [rec(A_INT), rec(f("a", "long"))], rec(f("a", "long"), B_DEF), False),
]

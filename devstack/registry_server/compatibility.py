"""Avro schema compatibility, the way Confluent Schema Registry decides it (pure).

Confluent delegates to Avro's ``SchemaCompatibility.checkReaderWriterCompatibility``; this is the
same algorithm over our canonical trees: can a *reader* schema decode everything a *writer* schema
produces? Names compare unqualified (or through the reader's aliases), logical types are ignored,
ints promote to long/float/double, long to float/double, float to double, string <-> bytes, a
reader field missing from the writer needs a default, writer enum symbols must exist in the reader
unless the reader enum has a default, and every writer union branch must be readable.

Levels: BACKWARD (new reads latest), FORWARD (latest reads new), FULL (both), NONE, and the
``_TRANSITIVE`` forms that check every earlier version instead of only the latest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .canonical import ParsedSchema, type_of

LEVELS = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)
DEFAULT_LEVEL = "BACKWARD"

_PROMOTIONS = {
    "long": {"int"},
    "float": {"int", "long"},
    "double": {"int", "long", "float"},
    "bytes": {"string"},
    "string": {"bytes"},
}


@dataclass(frozen=True)
class Incompatibility:
    """One reason a reader cannot read a writer, shaped like Avro's/Confluent's messages."""

    kind: str
    path: str
    description: str

    def message(self) -> str:
        return (
            f"{{errorType:'{self.kind}', description:'{self.description}', "
            f"additionalInfo:'{self.path}'}}"
        )


def reader_writer_issues(reader: ParsedSchema, writer: ParsedSchema) -> list[Incompatibility]:
    """Every reason ``reader`` cannot decode data written with ``writer`` (empty = compatible)."""
    return _Checker(reader, writer).check(reader.tree, writer.tree, "")


def check(level: str, new: ParsedSchema, previous: list[ParsedSchema]) -> list[str]:
    """Messages explaining why ``new`` violates ``level`` against ``previous`` (oldest first).

    An empty list means compatible. Non-transitive levels look only at the latest version.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown compatibility level {level!r}")
    if level == "NONE" or not previous:
        return []
    against = previous if level.endswith("_TRANSITIVE") else previous[-1:]
    base = level.removesuffix("_TRANSITIVE")
    messages: list[str] = []
    for old in reversed(against):
        issues: list[Incompatibility] = []
        if base in ("BACKWARD", "FULL"):
            issues += reader_writer_issues(new, old)
        if base in ("FORWARD", "FULL"):
            issues += reader_writer_issues(old, new)
        if issues:
            messages += [issue.message() for issue in issues]
            messages.append(f"{{oldSchema: '{old.canonical}'}}")
    if messages:
        messages.append(f"{{compatibility: '{level}'}}")
    return messages


def _simple(name: str) -> str:
    return name.rpartition(".")[2]


class _Checker:
    """One reader/writer pair; remembers pairs in progress so recursive types terminate."""

    def __init__(self, reader: ParsedSchema, writer: ParsedSchema) -> None:
        self.rnames = reader.names
        self.wnames = writer.names
        self.in_progress: set[tuple[str, str]] = set()

    def check(self, rnode: Any, wnode: Any, path: str) -> list[Incompatibility]:
        rkind, r = type_of(rnode, self.rnames)
        wkind, w = type_of(wnode, self.wnames)
        if rkind == "error":
            rkind = "record"
        if wkind == "error":
            wkind = "record"
        if wkind == "union" and rkind != "union":
            # Every branch the writer may have used must be readable.
            issues: list[Incompatibility] = []
            for i, branch in enumerate(w):
                issues += self.check(rnode, branch, f"{path}/{i}")
            return issues
        if rkind == "union":
            if wkind == "union":
                issues = []
                for i, branch in enumerate(w):
                    if self.check(rnode, branch, f"{path}/{i}"):
                        issues.append(
                            Incompatibility(
                                "MISSING_UNION_BRANCH",
                                f"{path}/{i}",
                                f"The new schema is missing a type inside a union field at path "
                                f"'{path}/{i}' in the old schema",
                            )
                        )
                return issues
            if any(not self.check(branch, wnode, path) for branch in r):
                return []
            return [
                Incompatibility(
                    "MISSING_UNION_BRANCH",
                    path,
                    f"The new schema is missing a type inside a union field at path '{path}'",
                )
            ]
        if rkind != wkind:
            if wkind in _PROMOTIONS.get(rkind, ()):
                return []
            return [
                Incompatibility(
                    "TYPE_MISMATCH",
                    path,
                    f"The type (path '{path}') of a field in the new schema does not match "
                    f"with the old schema ({rkind} vs {wkind})",
                )
            ]
        if rkind == "array":
            return self.check(r["items"], w["items"], f"{path}/items")
        if rkind == "map":
            return self.check(r["values"], w["values"], f"{path}/values")
        if rkind in ("record", "enum", "fixed"):
            return self._named(rkind, r, w, path)
        return []

    def _named(self, kind: str, r: dict[str, Any], w: dict[str, Any], path: str) -> list:
        if _simple(r["name"]) != _simple(w["name"]) and w["name"] not in r.get("aliases", ()):
            return [
                Incompatibility(
                    "NAME_MISMATCH",
                    f"{path}/name",
                    f"The name of the schema has changed (path '{path}/name')",
                )
            ]
        if kind == "fixed":
            if r["size"] != w["size"]:
                return [
                    Incompatibility(
                        "FIXED_SIZE_MISMATCH",
                        f"{path}/size",
                        f"The size of FIXED type field at path '{path}/size' in the old schema "
                        f"does not match with the new schema",
                    )
                ]
            return []
        if kind == "enum":
            missing = [s for s in w["symbols"] if s not in r["symbols"]]
            if missing and "default" not in r:
                return [
                    Incompatibility(
                        "MISSING_ENUM_SYMBOLS",
                        f"{path}/symbols",
                        f"The new schema is missing enum symbols '{missing}' at path "
                        f"'{path}/symbols' in the old schema",
                    )
                ]
            return []
        key = (r["name"], w["name"])
        if key in self.in_progress:
            return []
        self.in_progress.add(key)
        try:
            return self._record(r, w, path)
        finally:
            self.in_progress.discard(key)

    def _record(self, r: dict[str, Any], w: dict[str, Any], path: str) -> list:
        wfields = {f["name"]: f for f in w["fields"]}
        issues: list[Incompatibility] = []
        for i, rfield in enumerate(r["fields"]):
            wfield = wfields.get(rfield["name"])
            if wfield is None:
                wfield = next((wfields[a] for a in rfield.get("aliases", ()) if a in wfields), None)
            fpath = f"{path}/fields/{i}"
            if wfield is None:
                if "default" not in rfield:
                    issues.append(
                        Incompatibility(
                            "READER_FIELD_MISSING_DEFAULT_VALUE",
                            rfield["name"],
                            f"The field '{rfield['name']}' at path '{fpath}' in the new schema "
                            f"has no default value and is missing in the old schema",
                        )
                    )
                continue
            issues += self.check(rfield["type"], wfield["type"], f"{fpath}/type")
        return issues

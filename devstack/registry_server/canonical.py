"""Parse, validate and canonicalise Avro schemas (pure, no I/O).

Two registrations are "the same schema" when their canonical forms are equal. Like Confluent
(which compares Avro's ``Schema.toString()``), the form keeps everything that changes meaning or
documentation: defaults, logical types, docs, aliases, custom properties. It drops only layout:
whitespace, key order, namespace spelling (every name becomes a full name) and the redundant
``{"type": "string"}`` wrapper. Invalid schemas raise :class:`InvalidSchema` (HTTP 42201).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)

# Keys emitted first, in this order; other keys (custom properties) follow sorted.
_TYPE_KEYS = ("type", "name", "doc", "aliases", "symbols", "default", "size", "items", "values")
_FIELD_KEYS = ("name", "type", "doc", "default", "order", "aliases")


class InvalidSchema(ValueError):
    """The text is not a valid Avro schema."""


@dataclass(frozen=True)
class ParsedSchema:
    """A validated schema: its canonical JSON text and the index of its named types."""

    canonical: str
    tree: Any
    names: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)


def parse(schema: str | dict[str, Any] | list[Any]) -> ParsedSchema:
    """Validate ``schema`` (JSON text or decoded JSON) and return its canonical form."""
    if isinstance(schema, str):
        try:
            decoded = json.loads(schema)
        except ValueError as exc:
            raise InvalidSchema(f"Invalid schema: not JSON: {exc}") from None
    else:
        decoded = schema
    names: dict[str, dict[str, Any]] = {}
    tree = _Parser(names).type(decoded, namespace="")
    canonical = json.dumps(tree, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return ParsedSchema(canonical=canonical, tree=tree, names=names)


def _fullname(name: Any, namespace: Any, enclosing: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidSchema(f"Invalid name: {name!r}")
    if namespace is not None and not isinstance(namespace, str):
        raise InvalidSchema(f"Invalid namespace: {namespace!r}")
    if "." in name:
        full = name
    else:
        space = enclosing if namespace is None else namespace
        full = f"{space}.{name}" if space else name
    for part in full.split("."):
        if not _NAME.match(part):
            raise InvalidSchema(f"Invalid name: {full!r}")
    return full


def _space_of(fullname: str) -> str:
    return fullname.rpartition(".")[0]


class _Parser:
    """One schema's walk: holds the named types defined so far (Avro names are lexically scoped)."""

    def __init__(self, names: dict[str, dict[str, Any]]) -> None:
        self.names = names

    def type(self, node: Any, namespace: str) -> Any:
        if isinstance(node, str):
            return self._reference(node, namespace)
        if isinstance(node, list):
            return self._union(node, namespace)
        if not isinstance(node, dict):
            raise InvalidSchema(f"Invalid schema node: {node!r}")
        kind = node.get("type")
        if isinstance(kind, (dict, list)):
            # {"type": {...}} is just a wrapped type; Avro ignores the wrapper.
            return self.type(kind, namespace)
        if not isinstance(kind, str):
            raise InvalidSchema(f"Missing or invalid 'type' in {node!r}")
        if kind in NAMED:
            return self._named(node, kind, namespace)
        if kind == "array":
            if "items" not in node:
                raise InvalidSchema("Array schema has no 'items'")
            return self._emit(node, {"type": "array", "items": self.type(node["items"], namespace)})
        if kind == "map":
            if "values" not in node:
                raise InvalidSchema("Map schema has no 'values'")
            return self._emit(node, {"type": "map", "values": self.type(node["values"], namespace)})
        if kind in PRIMITIVES:
            extra = {k: v for k, v in node.items() if k != "type"}
            return self._emit(extra, {"type": kind}) if extra else kind
        return self._reference(kind, namespace)

    def _reference(self, name: str, namespace: str) -> str:
        if name in PRIMITIVES:
            return name
        for candidate in (_fullname(name, None, namespace), name):
            if candidate in self.names:
                return candidate
        raise InvalidSchema(f"Unknown type: {name!r}")

    def _union(self, branches: list[Any], namespace: str) -> list[Any]:
        out: list[Any] = []
        seen: set[str] = set()
        for branch in branches:
            parsed = self.type(branch, namespace)
            if isinstance(parsed, list):
                raise InvalidSchema("Unions may not immediately contain other unions")
            key = _branch_key(parsed)
            if key in seen:
                raise InvalidSchema(f"Duplicate in union: {key}")
            seen.add(key)
            out.append(parsed)
        return out

    def _named(self, node: dict[str, Any], kind: str, namespace: str) -> dict[str, Any]:
        full = _fullname(node.get("name"), node.get("namespace"), namespace)
        if full in self.names or full in PRIMITIVES or full.rpartition(".")[2] in PRIMITIVES:
            raise InvalidSchema(f"Can't redefine: {full}")
        out: dict[str, Any] = {"type": kind, "name": full}
        inner = _space_of(full)
        if "doc" in node:
            out["doc"] = node["doc"]
        if "aliases" in node:
            out["aliases"] = self._aliases(node["aliases"], inner)
        self.names[full] = out  # registered before fields: records may refer to themselves
        if kind == "enum":
            self._enum(node, out)
        elif kind == "fixed":
            size = node.get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise InvalidSchema(f"Invalid fixed size for {full}: {size!r}")
            out["size"] = size
        else:
            out["fields"] = self._fields(node.get("fields"), full, inner)
        emitted = self._emit(node, out, skip=("namespace", "fields", "symbols"))
        self.names[full] = emitted
        return emitted

    def _enum(self, node: dict[str, Any], out: dict[str, Any]) -> None:
        symbols = node.get("symbols")
        if not isinstance(symbols, list):
            raise InvalidSchema(f"Enum {out['name']} has no 'symbols' list")
        for symbol in symbols:
            if not isinstance(symbol, str) or not _NAME.match(symbol):
                raise InvalidSchema(f"Invalid enum symbol: {symbol!r}")
        if len(set(symbols)) != len(symbols):
            raise InvalidSchema(f"Duplicate enum symbol in {out['name']}")
        out["symbols"] = list(symbols)
        if "default" in node:
            if node["default"] not in symbols:
                raise InvalidSchema(f"Enum default {node['default']!r} is not a symbol")
            out["default"] = node["default"]

    def _fields(self, fields: Any, record: str, namespace: str) -> list[dict[str, Any]]:
        if not isinstance(fields, list):
            raise InvalidSchema(f"Record {record} has no 'fields' list")
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for spec in fields:
            if not isinstance(spec, dict):
                raise InvalidSchema(f"Invalid field in {record}: {spec!r}")
            name = spec.get("name")
            if not isinstance(name, str) or not _NAME.match(name):
                raise InvalidSchema(f"Invalid field name in {record}: {name!r}")
            if name in seen:
                raise InvalidSchema(f"Duplicate field {name} in record {record}")
            seen.add(name)
            if "type" not in spec:
                raise InvalidSchema(f"No type for field {name} in {record}")
            ftype = self.type(spec["type"], namespace)
            item: dict[str, Any] = {"name": name, "type": ftype}
            if "doc" in spec:
                item["doc"] = spec["doc"]
            if "default" in spec:
                if not _valid_default(ftype, spec["default"], self.names):
                    raise InvalidSchema(
                        f"Invalid default for field {name} in {record}: {spec['default']!r}"
                    )
                item["default"] = spec["default"]
            order = spec.get("order", "ascending")
            if order not in ("ascending", "descending", "ignore"):
                raise InvalidSchema(f"Invalid order for field {name}: {order!r}")
            if order != "ascending":
                item["order"] = order
            if "aliases" in spec:
                item["aliases"] = self._field_aliases(spec["aliases"])
            extra = {k: v for k, v in spec.items() if k not in _FIELD_KEYS}
            out.append(_ordered(item, extra, _FIELD_KEYS))
        return out

    def _aliases(self, aliases: Any, namespace: str) -> list[str]:
        if not isinstance(aliases, list):
            raise InvalidSchema(f"Invalid aliases: {aliases!r}")
        return [_fullname(a, None, namespace) for a in aliases]

    @staticmethod
    def _field_aliases(aliases: Any) -> list[str]:
        if not isinstance(aliases, list) or not all(
            isinstance(a, str) and _NAME.match(a) for a in aliases
        ):
            raise InvalidSchema(f"Invalid field aliases: {aliases!r}")
        return list(aliases)

    @staticmethod
    def _emit(
        node: dict[str, Any], known: dict[str, Any], skip: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        extra = {k: v for k, v in node.items() if k not in known and k not in skip}
        extra.pop("namespace", None)
        return _ordered(known, extra, _TYPE_KEYS)


def _ordered(
    known: dict[str, Any], extra: dict[str, Any], order: tuple[str, ...]
) -> dict[str, Any]:
    out = {k: known[k] for k in order if k in known}
    out.update({k: v for k, v in known.items() if k not in out})
    out.update({k: extra[k] for k in sorted(extra)})
    return out


def _branch_key(parsed: Any) -> str:
    """Unions may hold one schema per unnamed type and one per name."""
    if isinstance(parsed, str):
        return parsed
    if parsed.get("type") in NAMED:
        return parsed["name"]
    return parsed["type"]


def type_of(node: Any, names: dict[str, dict[str, Any]]) -> tuple[str, Any]:
    """(kind, resolved node) for a canonical node; named references are looked up."""
    if isinstance(node, list):
        return "union", node
    if isinstance(node, str):
        if node in PRIMITIVES:
            return node, node
        resolved = names[node]
        return resolved["type"], resolved
    return node["type"], node


def _valid_default(ftype: Any, value: Any, names: dict[str, dict[str, Any]]) -> bool:
    """Does a JSON default match its type? (Avro's rule: a union's default is its first branch.)"""
    kind, node = type_of(ftype, names)
    if kind == "union":
        return bool(node) and _valid_default(node[0], value, names)
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("int", "long"):
        low, high = _INT_RANGE if kind == "int" else _LONG_RANGE
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if kind in ("float", "double"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in ("bytes", "string", "fixed"):
        return isinstance(value, str)
    if kind == "enum":
        return value in node["symbols"]
    if kind == "array":
        return isinstance(value, list) and all(
            _valid_default(node["items"], v, names) for v in value
        )
    if kind == "map":
        return isinstance(value, dict) and all(
            _valid_default(node["values"], v, names) for v in value.values()
        )
    if kind in ("record", "error"):
        if not isinstance(value, dict):
            return False
        for spec in node["fields"]:
            if spec["name"] in value:
                if not _valid_default(spec["type"], value[spec["name"]], names):
                    return False
            elif "default" not in spec:
                return False
        return True
    return False

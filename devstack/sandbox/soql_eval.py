"""Evaluates a parsed SOQL query against one org's schema and store.

Why compiled closures: a query is checked against the schema once (INVALID_FIELD, INVALID_TYPE) and
turned into plain functions, so filtering and serialising thousands of rows stays cheap. `Id IN`,
reference and external-id filters are answered from the store's indexes.

A query compiled with include_deleted (the queryAll resource) also sees the recycle bin: deleted
rows at every level (top, parent paths, child subqueries), IsDeleted telling them apart. The
indexes hold live rows only, so such a query scans the (small) bin beside its index plan.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from . import ids
from .errors import SfError
from .schema import FieldDef, ObjectDef
from .soql import BoolOp, Comparison, Count, Expr, Literal, Not, Query, SemiJoin
from .store import Store

Row = dict
Getter = Callable[[Row], object]
Pred = Callable[[Row], bool]

_CUSTOM_HINT = (
    " If you are attempting to use a custom field, be sure to append the '__c' after "
    "the custom field name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)


def _invalid_field(name: str, obj: str) -> SfError:
    return SfError(
        400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj}'.{_CUSTOM_HINT}"
    )


def _invalid_type(message: str) -> SfError:
    return SfError(400, "INVALID_TYPE", message)


#: Salesforce's "Name" object: what a polymorphic relationship (Task.What, Task.Who) resolves to
#: in SOQL, with the fields every target has (Id, Type, Name). TYPEOF is not supported here.
NAME_OBJ = ObjectDef(
    "Name",
    "000",
    {
        "Id": FieldDef("Id", "id", 18),
        "Type": FieldDef("Type", "picklist", 40),
        "Name": FieldDef("Name", "string", 255),
    },
)


@dataclass
class Node:
    """What to emit for one object level: fields, parent lookups and child subqueries, in order."""

    obj: ObjectDef
    order: list[tuple[str, object]]


@dataclass
class CompiledQuery:
    obj: ObjectDef
    node: Node
    where: Pred | None
    candidates: Callable[[], Iterable[str]] | None
    sort: list[tuple[Getter, bool, bool]]
    limit: int | None
    offset: int
    counts: list[Count]
    is_count_only: bool
    #: queryAll: the recycle bin's rows too
    include_deleted: bool = False


class Evaluator:
    """Compile and run SOQL for one org."""

    def __init__(self, store: Store, version: str = "59.0") -> None:
        self.store = store
        self.schema = store.schema
        self.version = version
        self._deleted = False  # of the query being compiled

    def _rows(self, obj_name: str, include_deleted: bool) -> Mapping[str, Row]:
        table = self.store.table(obj_name)
        return ChainMap(table.rows, table.deleted) if include_deleted else table.rows

    # -- public -------------------------------------------------------------------------------
    def compile(self, q: Query, include_deleted: bool = False) -> CompiledQuery:
        """Check and compile `q`; include_deleted (queryAll) makes it see the recycle bin."""
        self._deleted = include_deleted
        obj = self.schema.get(q.sobject)
        if obj is None:
            raise _invalid_type(
                f"\nsObject type '{q.sobject}' is not supported. If you are "
                "attempting to use a custom object, be sure to append the '__c' "
                "after the entity name. Please reference your WSDL or the describe "
                "call for the appropriate names."
            )
        if q.where is not None:
            q = replace(q, where=self._resolve_semi_joins(obj, q.where))
        return self._compile_level(q, obj)

    def _resolve_semi_joins(self, obj: ObjectDef, expr: Expr) -> Expr:
        """Run each semi-join subquery (``soql.check_semi_joins`` placed them at the top level)
        and put the ids it selected in its place, so the index plan serves the outer query."""
        if isinstance(expr, BoolOp):
            return BoolOp(expr.op, tuple(self._resolve_semi_joins(obj, e) for e in expr.items))
        if isinstance(expr, Comparison) and isinstance(expr.value, SemiJoin):
            return replace(expr, value=self._semi_join_ids(obj, expr.path, expr.value.query))
        return expr

    def _semi_join_ids(self, obj: ObjectDef, path: str, sub: Query) -> tuple[Literal, ...]:
        """The values of the one Id or reference field the subquery selects. Salesforce requires
        an Id or reference on both sides; the error texts here are not confirmed from its docs."""
        _, left = self._getter(obj, path)
        if left.type not in ("id", "reference"):
            raise SfError(
                400,
                "MALFORMED_QUERY",
                f"Semi join sub-selects are only allowed on Id or reference fields: {left.name}",
            )
        sub_obj = self.schema.get(sub.sobject)
        if sub_obj is None:
            raise _invalid_type(f"sObject type '{sub.sobject}' is not supported.")
        if len(sub.fields) != 1 or not isinstance(sub.fields[0], str):
            raise SfError(
                400,
                "MALFORMED_QUERY",
                "Semi join sub-selects must select exactly one Id or reference field",
            )
        getter, selected = self._getter(sub_obj, sub.fields[0])
        if selected.type not in ("id", "reference"):
            raise SfError(
                400,
                "MALFORMED_QUERY",
                f"Semi join sub-selects must select an Id or reference field, not {selected.name}",
            )
        inner = self._compile_level(sub, sub_obj)
        rows = self._rows(sub_obj.name, inner.include_deleted)
        values = dict.fromkeys(getter(rows[rid]) for rid in self.run(inner))
        return tuple(Literal("string", v) for v in values if isinstance(v, str))

    def run(self, cq: CompiledQuery) -> list[str]:
        """Ids of the matching rows, sorted, offset and limited."""
        table = self.store.table(cq.obj.name)
        rows = self._rows(cq.obj.name, cq.include_deleted)
        source: Iterable[str] = cq.candidates() if cq.candidates else table.rows.keys()
        if cq.include_deleted:  # the indexes hold live rows only: the bin is scanned
            source = dict.fromkeys([*source, *table.deleted])
        matched = [
            rid for rid in source if rid in rows and (cq.where is None or cq.where(rows[rid]))
        ]
        if cq.candidates is not None or cq.include_deleted:
            matched.sort()  # fixed-width base62 ids sort in creation order, like a table scan
        matched = self._sorted(matched, rows, cq.sort)
        end = None if cq.limit is None else cq.offset + cq.limit
        return matched[cq.offset : end]

    def serialize(self, cq: CompiledQuery, rids: Iterable[str]) -> list[dict]:
        rows = self._rows(cq.obj.name, cq.include_deleted)
        deleted = cq.include_deleted
        return [self._record(cq.node, rows[rid], deleted) for rid in rids if rid in rows]

    def aggregate(self, cq: CompiledQuery, rids: list[str]) -> list[dict]:
        """COUNT(field) results: one AggregateResult record."""
        rows = self._rows(cq.obj.name, cq.include_deleted)
        rec: dict = {"attributes": {"type": "AggregateResult"}}
        for i, c in enumerate(cq.counts):
            if c.path is None:
                value = len(rids)
            else:
                getter, _ = self._getter(cq.obj, c.path)
                value = sum(1 for r in rids if getter(rows[r]) is not None)
            rec[c.alias or f"expr{i}"] = value
        return [rec]

    # -- compilation --------------------------------------------------------------------------
    def _compile_level(self, q: Query, obj: ObjectDef) -> CompiledQuery:
        node = Node(obj, [])
        counts = [f for f in q.fields if isinstance(f, Count)]
        for item in q.fields:
            if isinstance(item, Query):
                rel = obj.child(item.sobject)
                if rel is None:
                    raise _invalid_type(
                        f"Didn't understand relationship '{item.sobject}' in FROM "
                        "part of query call. If you are attempting to use a custom "
                        "relationship, be sure to append the '__r' after the custom "
                        "relationship name."
                    )
                child_obj = self.schema.objects[rel.child_sobject]
                sub = self._compile_level(item, child_obj)
                node.order.append(("child", (rel.relationship_name, rel.field, sub)))
            elif isinstance(item, str):
                self._add_path(node, obj, item)
        if counts and len(counts) != len(q.fields):
            raise SfError(
                400,
                "MALFORMED_QUERY",
                "Field must be grouped or aggregated: "
                f"{next(f for f in q.fields if not isinstance(f, Count))}",
            )
        where = self._pred(obj, q.where) if q.where is not None else None
        sort = []
        for o in q.order_by:
            getter, f = self._getter(obj, o.path)
            nulls_last = o.descending if o.nulls_last is None else o.nulls_last
            sort.append((_sort_key(getter, f), o.descending, nulls_last))
        return CompiledQuery(
            obj,
            node,
            where,
            self._candidates(obj, q.where),
            sort,
            q.limit,
            q.offset or 0,
            counts,
            bool(counts)
            and counts[0].path is None
            and len(counts) == 1
            and counts[0].alias is None,
            self._deleted,
        )

    def _strip_object(self, obj: ObjectDef, path: str) -> list[str]:
        parts = path.split(".")
        if (
            len(parts) > 1
            and parts[0].lower() == obj.name.lower()
            and parts[0].lower() not in obj.parent_by_lower
        ):
            parts = parts[1:]
        return parts

    def _add_path(self, node: Node, obj: ObjectDef, path: str) -> None:
        parts = self._strip_object(obj, path)
        current, cur_obj = node, obj
        for rel_name in parts[:-1]:
            ref = cur_obj.parent_by_lower.get(rel_name.lower())
            if ref is None:
                raise SfError(
                    400,
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{rel_name}' "
                    "in field path. If you are attempting to use a custom relationship, "
                    "be sure to append the '__r' after the custom relationship name.",
                )
            existing = next((v for k, v in current.order if k == "parent" and v[0] is ref), None)
            if existing is None:
                existing = (ref, Node(self._parent_obj(ref), []))
                current.order.append(("parent", existing))
            current, cur_obj = existing[1], existing[1].obj
        f = cur_obj.field(parts[-1])
        if f is None:
            raise _invalid_field(parts[-1], cur_obj.name)
        if ("field", f.name) not in current.order:
            current.order.append(("field", f.name))

    def _parent_obj(self, ref: FieldDef) -> ObjectDef:
        return NAME_OBJ if ref.polymorphic else self.schema.objects[ref.reference_to or ""]

    def _parent_row(self, ref: FieldDef, pid: object, deleted: bool) -> Row | None:
        """The row a reference points at; for a polymorphic one, its "Name" row (Id, Type, Name)."""
        if not isinstance(pid, str):
            return None
        lookup = self.store.get_any if deleted else self.store.get
        if not ref.polymorphic:
            return lookup(ref.reference_to or "", pid)
        obj = self.schema.by_prefix.get(pid[:3])
        row = lookup(obj.name, pid) if obj is not None else None
        if row is None or obj is None:
            return None
        name = row.get("Name")
        if name is None and ("FirstName" in row or "LastName" in row):
            name = " ".join(str(p) for p in (row.get("FirstName"), row.get("LastName")) if p)
        return {"Id": pid, "Type": obj.name, "Name": name}

    def _getter(self, obj: ObjectDef, path: str) -> tuple[Getter, FieldDef]:
        parts = self._strip_object(obj, path)
        chain: list[FieldDef] = []
        cur = obj
        for rel_name in parts[:-1]:
            ref = cur.parent_by_lower.get(rel_name.lower())
            if ref is None:
                raise SfError(
                    400,
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{rel_name}' in field path.",
                )
            cur = self._parent_obj(ref)
            chain.append(ref)
        f = cur.field(parts[-1])
        if f is None:
            raise _invalid_field(parts[-1], cur.name)
        name = f.name
        if not chain:
            return (lambda row: row.get(name)), f
        deleted = self._deleted

        def get(row: Row) -> object:
            for ref in chain:
                row = self._parent_row(ref, row.get(ref.name), deleted)  # type: ignore[assignment]
                if row is None:
                    return None
            return row.get(name)

        return get, f

    def _pred(self, obj: ObjectDef, expr: Expr) -> Pred:
        if isinstance(expr, BoolOp):
            preds = [self._pred(obj, e) for e in expr.items]
            if expr.op == "and":
                return lambda row: all(p(row) for p in preds)
            return lambda row: any(p(row) for p in preds)
        if isinstance(expr, Not):
            inner = self._pred(obj, expr.item)
            return lambda row: not inner(row)
        return self._comparison(obj, expr)

    def _comparison(self, obj: ObjectDef, c: Comparison) -> Pred:
        getter, f = self._getter(obj, c.path)
        if c.op in ("in", "notin"):
            values = {_norm_literal(f, lit, for_like=False) for lit in c.value}  # type: ignore[union-attr]
            fold = _folder(f)
            if c.op == "in":
                return lambda row: fold(getter(row)) in values
            return lambda row: fold(getter(row)) not in values
        lit = c.value
        assert isinstance(lit, Literal)
        if c.op == "like":
            if f.type not in (
                "string",
                "textarea",
                "picklist",
                "email",
                "phone",
                "id",
                "reference",
            ):
                raise SfError(400, "INVALID_FIELD", f"invalid operator on field: {f.name}")
            regex = _like_regex(str(lit.value))
            return lambda row: (v := getter(row)) is not None and regex.match(str(v)) is not None
        value = _norm_literal(f, lit, for_like=False)
        fold = _folder(f)
        op = c.op
        if op == "=":
            return lambda row: fold(getter(row)) == value
        if op == "!=":
            return lambda row: fold(getter(row)) != value
        if value is None:
            raise SfError(
                400,
                "INVALID_QUERY_FILTER_OPERATOR",
                f"invalid operator on null value for field {f.name}",
            )
        cmp = {
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }[op]
        return lambda row: (v := fold(getter(row))) is not None and cmp(v, value)

    def _candidates(self, obj: ObjectDef, where: Expr | None) -> Callable[[], Iterable[str]] | None:
        """Index plan: first top-level `=`/`IN` conjunct on Id, a reference or an external id."""
        if where is None:
            return None
        conjuncts = (
            list(where.items) if isinstance(where, BoolOp) and where.op == "and" else [where]
        )
        table = self.store.table(obj.name)
        for c in conjuncts:
            if not isinstance(c, Comparison) or c.op not in ("=", "in") or "." in c.path:
                continue
            f = obj.field(c.path)
            if f is None:
                continue
            lits = c.value if isinstance(c.value, tuple) else (c.value,)
            if any(isinstance(lit, Literal) and lit.kind == "null" for lit in lits):
                continue  # the indexes hold no nulls: `ParentId = null` is a scan
            keys = [_norm_literal(f, lit, for_like=False) for lit in lits]
            if f.name == "Id":
                return lambda keys=keys: [k for k in dict.fromkeys(keys) if k]  # type: ignore[misc]
            index = table.child_index.get(f.name)
            if index is None and f.external_id:
                index = table.ext_index[f.name]
                if f.type in ("string", "email", "phone"):
                    continue  # case-insensitive compare: leave it to the scan
            if index is not None:
                return lambda idx=index, keys=keys: [  # type: ignore[misc]
                    rid for k in dict.fromkeys(keys) for rid in idx.get(k, ())
                ]
        return None

    # -- output -------------------------------------------------------------------------------
    def _record(self, node: Node, row: Row, deleted: bool = False) -> dict:
        rid = row["Id"]
        # a "Name" row's url is its record's (type Name, url /sobjects/Case/500...)
        url_type = row["Type"] if node.obj is NAME_OBJ else node.obj.name
        rec: dict = {
            "attributes": {
                "type": node.obj.name,
                "url": f"/services/data/v{self.version}/sobjects/{url_type}/{rid}",
            }
        }
        store = self.store
        for kind, spec in node.order:
            if kind == "field":
                value = row.get(spec)  # type: ignore[call-overload]
                if spec in node.obj.blob_fields and value is not None:
                    # a blob reads as the URL of its bytes, as in Salesforce's query results
                    value = f"/services/data/v{self.version}/sobjects/{url_type}/{rid}/{spec}"
                rec[spec] = value  # type: ignore[index]
            elif kind == "parent":
                ref, sub = spec  # type: ignore[misc]
                parent = self._parent_row(ref, row.get(ref.name), deleted)
                rec[ref.relationship_name] = self._record(sub, parent, deleted) if parent else None
            else:
                rel_name, field_name, sub = spec  # type: ignore[misc]
                rows = self._rows(sub.obj.name, deleted)
                kids = store.children(sub.obj.name, field_name, rid, deleted)
                matched = [k for k in kids if sub.where is None or sub.where(rows[k])]
                matched = self._sorted(matched, rows, sub.sort)
                end = None if sub.limit is None else sub.offset + sub.limit
                matched = matched[sub.offset : end]
                rec[rel_name] = (
                    {
                        "totalSize": len(matched),
                        "done": True,
                        "records": [self._record(sub.node, rows[k], deleted) for k in matched],
                    }
                    if matched
                    else None
                )
        return rec

    @staticmethod
    def _sorted(
        rids: list[str], rows: Mapping[str, Row], sort: list[tuple[Getter, bool, bool]]
    ) -> list[str]:
        for key, descending, nulls_last in reversed(sort):
            present = [r for r in rids if key(rows[r]) is not None]
            missing = [r for r in rids if key(rows[r]) is None]
            present.sort(key=lambda r, key=key: key(rows[r]), reverse=descending)  # type: ignore[misc]
            rids = present + missing if nulls_last else missing + present
        return rids


def _sort_key(getter: Getter, f: FieldDef) -> Getter:
    if f.type in ("string", "textarea", "picklist", "email", "phone"):
        return lambda row: v.casefold() if isinstance(v := getter(row), str) else v
    return getter


def _folder(f: FieldDef) -> Callable[[object], object]:
    """Normalises stored values for comparison: text is case-insensitive in SOQL."""
    if f.type in ("string", "textarea", "picklist", "email", "phone"):
        return lambda v: v.casefold() if isinstance(v, str) else v
    return lambda v: v


def _norm_literal(f: FieldDef, lit: Literal, for_like: bool) -> object:
    if lit.kind == "null":
        return None
    t = f.type
    if t in ("id", "reference"):
        if lit.kind != "string" or (rid := ids.normalize(lit.value)) is None:
            raise SfError(400, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {lit.value}")
        return rid
    if t == "date":
        if lit.kind != "date":
            raise SfError(
                400,
                "INVALID_FIELD",
                f"value of filter criterion for field '{f.name}' "
                "must be of type date and should not be enclosed in quotes",
            )
        return lit.value
    if t in ("int", "double"):
        if lit.kind != "number":
            raise SfError(
                400,
                "INVALID_FIELD",
                f"value of filter criterion for field '{f.name}' "
                f"must be of type {'integer' if t == 'int' else 'double'} and should not be "
                "enclosed in quotes",
            )
        return lit.value
    if t == "boolean":
        if lit.kind != "boolean":
            raise SfError(
                400,
                "INVALID_FIELD",
                f"value of filter criterion for field '{f.name}' "
                "must be of type boolean and should not be enclosed in quotes",
            )
        return lit.value
    if t == "datetime":
        if lit.kind not in ("date", "datetime"):
            raise SfError(
                400,
                "INVALID_FIELD",
                f"value of filter criterion for field '{f.name}' "
                "must be of type dateTime and should not be enclosed in quotes",
            )
        return _sf_datetime(str(lit.value))
    if lit.kind != "string":
        raise SfError(
            400,
            "INVALID_FIELD",
            f"value of filter criterion for field '{f.name}' must "
            "be of type string and should be enclosed in quotes",
        )
    text = str(lit.value)
    if not for_like:
        text = text.replace("\\%", "%").replace("\\_", "_")
    return text.casefold()


def _sf_datetime(text: str) -> str:
    if len(text) == 10:
        return f"{text}T00:00:00.000+0000"
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (
        parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{parsed.microsecond // 1000:03d}+0000"
    )


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE | re.DOTALL)

"""In-memory record store of one org, indexed for the access paths the API needs.

Why: a SOQL page of 2,000 parents with child subqueries and `Id IN (...)` batches must be fast, so
records are held by Id, each external-id field has a value index, and each reference field keeps a
per-parent child index (subqueries are O(children)). An undo journal gives allOrNone rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from .ids import IdFactory
from .schema import ObjectDef, OrgSchema


def sf_now() -> str:
    """Salesforce's datetime wire format, e.g. 2024-05-01T12:00:00.000+0000."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "000+0000"


class Table:
    """Records of one sObject plus their indexes."""

    def __init__(self, obj: ObjectDef) -> None:
        self.obj = obj
        self.rows: dict[str, dict] = {}
        self.ext_index: dict[str, dict[object, dict[str, None]]] = {
            f.name: {} for f in obj.fields.values() if f.external_id
        }
        self.child_index: dict[str, dict[str, dict[str, None]]] = {
            f.name: {} for f in obj.fields.values() if f.type == "reference"
        }

    def index(self, rid: str, row: dict) -> None:
        for fname, idx in self.ext_index.items():
            value = row.get(fname)
            if value is not None:
                idx.setdefault(value, {})[rid] = None
        for fname, idx in self.child_index.items():
            parent = row.get(fname)
            if parent is not None:
                idx.setdefault(parent, {})[rid] = None

    def unindex(self, rid: str, row: dict) -> None:
        for fname, idx in (*self.ext_index.items(), *self.child_index.items()):
            value = row.get(fname)
            bucket = idx.get(value) if value is not None else None
            if bucket is not None:
                bucket.pop(rid, None)
                if not bucket:
                    del idx[value]


class Store:
    """All tables of one org. Mutations are recorded in a journal while a transaction is open."""

    def __init__(self, schema: OrgSchema, ids: IdFactory) -> None:
        self.schema = schema
        self.ids = ids
        self.tables = {name: Table(obj) for name, obj in schema.objects.items()}
        self._journal: list[Callable[[], None]] | None = None

    # -- reads -------------------------------------------------------------------------------
    def table(self, obj_name: str) -> Table:
        return self.tables[obj_name]

    def get(self, obj_name: str, rid: str) -> dict | None:
        return self.tables[obj_name].rows.get(rid)

    def find_by(self, obj_name: str, field: str, value: object) -> list[str]:
        """Ids whose external-id (or Id) field equals value."""
        if field == "Id":
            return [value] if value in self.tables[obj_name].rows else []  # type: ignore[list-item]
        return list(self.tables[obj_name].ext_index[field].get(value, ()))

    def children(self, obj_name: str, field: str, parent_id: str) -> Iterable[str]:
        return self.tables[obj_name].child_index[field].get(parent_id, {}).keys()

    def object_of(self, rid: str) -> ObjectDef | None:
        obj = self.schema.by_prefix.get(rid[:3])
        if obj is not None and rid in self.tables[obj.name].rows:
            return obj
        return None

    def counts(self) -> dict[str, int]:
        return {name: len(t.rows) for name, t in self.tables.items()}

    # -- writes ------------------------------------------------------------------------------
    def insert(self, obj_name: str, values: dict, *, created: str | None = None) -> str:
        table = self.tables[obj_name]
        rid = self.ids.new_id(table.obj.key_prefix)
        stamp = created or sf_now()
        # a CreatedDate in `values` was set by the API user ("Set Audit Fields upon Record
        # Creation", checked by validation); LastModifiedDate is still the save's own time
        created_date = values.get("CreatedDate") or stamp
        row = {"Id": rid, **values, "CreatedDate": created_date, "LastModifiedDate": stamp}
        table.rows[rid] = row
        table.index(rid, row)
        self._record(lambda: self._drop(table, rid))
        return rid

    def update(self, obj_name: str, rid: str, changes: dict) -> None:
        table = self.tables[obj_name]
        row = table.rows[rid]
        before = dict(row)
        table.unindex(rid, row)
        row.update(changes)
        row["LastModifiedDate"] = sf_now()
        table.index(rid, row)
        self._record(lambda: self._restore(table, rid, before))

    def delete(self, obj_name: str, rid: str) -> None:
        table = self.tables[obj_name]
        before = table.rows[rid]
        self._drop(table, rid)
        self._record(lambda: self._restore(table, rid, before))

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Open (or join) a transaction; call tx.rollback() to undo everything done in it."""
        if self._journal is not None:
            yield Transaction(self, len(self._journal))
            return
        self._journal = []
        try:
            yield Transaction(self, 0)
        finally:
            self._journal = None

    # -- internals ---------------------------------------------------------------------------
    def _record(self, undo: Callable[[], None]) -> None:
        if self._journal is not None:
            self._journal.append(undo)

    def _undo_to(self, mark: int) -> None:
        journal = self._journal
        assert journal is not None
        while len(journal) > mark:
            journal.pop()()

    @staticmethod
    def _drop(table: Table, rid: str) -> None:
        row = table.rows.pop(rid)
        table.unindex(rid, row)

    @staticmethod
    def _restore(table: Table, rid: str, row: dict) -> None:
        current = table.rows.get(rid)
        if current is not None:
            table.unindex(rid, current)
        table.rows[rid] = row
        table.index(rid, row)


class Transaction:
    """A savepoint in the store's journal."""

    def __init__(self, store: Store, mark: int) -> None:
        self._store = store
        self._mark = mark

    def savepoint(self) -> Transaction:
        assert self._store._journal is not None
        return Transaction(self._store, len(self._store._journal))

    def rollback(self) -> None:
        self._store._undo_to(self._mark)

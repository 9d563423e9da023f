"""In-memory record store of one org, indexed for the access paths the API needs.

Why: a SOQL page of 2,000 parents with child subqueries and `Id IN (...)` batches must be fast, so
records are held by Id, each external-id field has a value index, and each reference field keeps a
per-parent child index (subqueries are O(children)). An undo journal gives allOrNone rollback.

Every write stamps the system fields as Salesforce does ("System Fields", SOAP API Developer
Guide): CreatedById/CreatedDate on insert, LastModifiedById/LastModifiedDate and SystemModstamp
on insert, update and delete, by the writing user. A deleted record goes to the recycle bin
(`Table.deleted`) with IsDeleted = true: gone from every live access path (get, find_by, the
indexes, `query`) and still returned by `queryAll`, as the REST API's QueryAll resource does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from .ids import IdFactory
from .schema import AUDIT_REFERENCES, ObjectDef, OrgSchema


def sf_datetime(ms: int) -> str:
    """Salesforce's datetime wire format of a Unix time in ms, e.g. 2026-12-03T15:40:01.123+0000."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


class Clock:
    """The org's write clock: now in ms, but strictly increasing, so two writes in the same
    millisecond still order by SystemModstamp (a delta sync's `SystemModstamp > T` misses none).
    Salesforce documents no such guarantee (the records of one save may well share a stamp): a
    client should still query with some overlap; the sandbox chooses it to make tests exact."""

    def __init__(self) -> None:
        self._last = 0

    def tick(self) -> str:
        self._last = max(int(time.time() * 1000), self._last + 1)
        return sf_datetime(self._last)


class Table:
    """Records of one sObject plus their indexes."""

    def __init__(self, obj: ObjectDef) -> None:
        self.obj = obj
        self.rows: dict[str, dict] = {}
        self.ext_index: dict[str, dict[object, dict[str, None]]] = {
            f.name: {} for f in obj.fields.values() if f.external_id
        }
        # CreatedById/LastModifiedById are not indexed: nobody walks "records of a user" here,
        # and one bucket per user would hold most of the org
        self.child_index: dict[str, dict[str, dict[str, None]]] = {
            f.name: {}
            for f in obj.fields.values()
            if f.type == "reference" and f.name not in AUDIT_REFERENCES
        }
        #: the recycle bin: deleted rows (IsDeleted true), by Id; only queryAll reads them
        self.deleted: dict[str, dict] = {}
        #: child index of the recycle bin (queryAll child subqueries)
        self.deleted_children: dict[str, dict[str, dict[str, None]]] = {
            name: {} for name in self.child_index
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
        _unindex(rid, row, (*self.ext_index.items(), *self.child_index.items()))

    def bin(self, rid: str, row: dict) -> None:
        """Put a deleted row into the recycle bin."""
        self.deleted[rid] = row
        for fname, idx in self.deleted_children.items():
            parent = row.get(fname)
            if parent is not None:
                idx.setdefault(parent, {})[rid] = None

    def unbin(self, rid: str) -> dict:
        row = self.deleted.pop(rid)
        _unindex(rid, row, self.deleted_children.items())
        return row


def _unindex(rid: str, row: dict, indexes: Iterable[tuple[str, dict]]) -> None:
    for fname, idx in indexes:
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
        self.clock = Clock()
        #: who writes when a caller names nobody (the org sets its integration user; the first
        #: user inserted, that integration user, is its own creator)
        self.default_user: str | None = None

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

    def get_any(self, obj_name: str, rid: str) -> dict | None:
        """A live row, else a row of the recycle bin (queryAll sees both)."""
        table = self.tables[obj_name]
        row = table.rows.get(rid)
        return row if row is not None else table.deleted.get(rid)

    def is_deleted(self, obj_name: str, rid: str) -> bool:
        return rid in self.tables[obj_name].deleted

    def children(
        self, obj_name: str, field: str, parent_id: str, include_deleted: bool = False
    ) -> Iterable[str]:
        table = self.tables[obj_name]
        live = table.child_index[field].get(parent_id, {}).keys()
        if not include_deleted:
            return live
        return [*live, *table.deleted_children[field].get(parent_id, {}).keys()]

    def object_of(self, rid: str) -> ObjectDef | None:
        obj = self.schema.by_prefix.get(rid[:3])
        if obj is not None and rid in self.tables[obj.name].rows:
            return obj
        return None

    def counts(self) -> dict[str, int]:
        return {name: len(t.rows) for name, t in self.tables.items()}

    # -- writes ------------------------------------------------------------------------------
    def insert(
        self, obj_name: str, values: dict, *, created: str | None = None, user: str | None = None
    ) -> str:
        """Insert a row stamped by `user` (default: the org's integration user).

        `created`: a historical creation time (the seed's data), used for CreatedDate,
        LastModifiedDate and SystemModstamp alike. Audit fields in `values` were set by the API
        user ("Set Audit Fields upon Record Creation", checked by validation) and win over both;
        SystemModstamp is always the store's own (the docs: the one audit field nobody sets).
        """
        table = self.tables[obj_name]
        rid = self.ids.new_id(table.obj.key_prefix)
        stamp = created or self.clock.tick()
        # the first user (the org's integration user) is its own creator
        who = user or self.default_user or (rid if obj_name == "User" else None)
        row = {
            "Id": rid,
            **values,
            "CreatedDate": values.get("CreatedDate") or stamp,
            "CreatedById": values.get("CreatedById") or who,
            "LastModifiedDate": values.get("LastModifiedDate") or stamp,
            "LastModifiedById": values.get("LastModifiedById") or who,
            "SystemModstamp": stamp,
            "IsDeleted": False,
        }
        table.rows[rid] = row
        table.index(rid, row)
        self._record(lambda: self._drop(table, rid))
        return rid

    def update(self, obj_name: str, rid: str, changes: dict, *, user: str | None = None) -> None:
        """Apply `changes` (possibly none: a save still stamps the record) as `user`."""
        table = self.tables[obj_name]
        row = table.rows[rid]
        before = dict(row)
        table.unindex(rid, row)
        row.update(changes)
        self._stamp(row, user)
        table.index(rid, row)
        self._record(lambda: self._restore(table, rid, before))

    def delete(self, obj_name: str, rid: str, *, user: str | None = None) -> None:
        """Move a row to the recycle bin: IsDeleted true, stamped with the deletion."""
        table = self.tables[obj_name]
        before = table.rows[rid]
        self._drop(table, rid)
        row = {**before, "IsDeleted": True}
        self._stamp(row, user)
        table.bin(rid, row)

        def undo() -> None:
            table.unbin(rid)
            self._restore(table, rid, before)

        self._record(undo)

    def purge(self, obj_name: str, rid: str) -> None:
        """Remove a row for good (a save that failed after its insert: never in the bin)."""
        table = self.tables[obj_name]
        before = table.rows[rid]
        self._drop(table, rid)
        self._record(lambda: self._restore(table, rid, before))

    def _stamp(self, row: dict, user: str | None) -> None:
        stamp = self.clock.tick()
        row["LastModifiedDate"] = stamp
        row["SystemModstamp"] = stamp
        row["LastModifiedById"] = user or self.default_user or row.get("LastModifiedById")

    def on_undo(self, undo: Callable[[], None]) -> None:
        """Run `undo` if the open transaction rolls back (e.g. remove a file written for a record
        the transaction inserted)."""
        self._record(undo)

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

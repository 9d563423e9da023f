"""References from one customer to another (``Account.ParentId``: a business and its sites), and
what to do with them (pure).

The transform cannot write such a reference on its own: the parent is another customer, which
may not be in V2 yet. It lists them (``CrossReference``); the worker asks the ledger which
parents are migrated (one query per batch) and ``split`` decides:

* the parent is migrated: the reference is written through the parent's external id, like any
  lookup (``{"Parent": {"Legacy_Id__c": "001..."}}``);
* it is not: the child migrates without it and the reference is recorded as pending (audit
  table ``migration_pending_reference``). When the parent's customer completes, the worker
  fills every pending reference pointing at it (one update per batch) and marks them resolved.

A cycle (A -> B -> A) never waits on itself: whichever of A and B migrates first records its
reference as pending and completes; the other finds it migrated, writes its reference directly,
and on completing fills the first one's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from migration_app.migration.issues import WARNING, Issue

#: issue code of a reference left pending (a warning: the record migrated without it)
PENDING_REFERENCE = "PENDING_REFERENCE"


@dataclass(frozen=True, slots=True)
class CrossReference:
    """One record's lookup to another customer's record, as the transform found it."""

    customer_id: str
    object: str  # V1 object of the record holding the lookup
    target_object: str  # its V2 object
    legacy_id: str  # the record's V1 Id (its external id value in V2)
    external_id_field: str  # the record's V2 external id field
    field: str  # the V1 lookup field (ParentId)
    relationship: str  # the V2 relationship written (Parent)
    parent_object: str  # V2 object of the parent
    parent_legacy_id: str  # the parent's V1 Id
    parent_external_id_field: str  # the parent's V2 external id field

    def value(self) -> dict[str, Any]:
        """The relationship's value in a payload: the parent by its external id."""
        return {self.parent_external_id_field: self.parent_legacy_id}

    def fill_record(self) -> dict[str, Any]:
        """The upsert that sets the reference on a record already in V2."""
        return {
            "attributes": {"type": self.target_object},
            self.external_id_field: self.legacy_id,
            self.relationship: self.value(),
        }


def split(
    references: Iterable[CrossReference], migrated: Collection[str]
) -> tuple[list[CrossReference], list[CrossReference]]:
    """(write now, pending): a reference whose parent's V1 Id (15 or 18 chars) is in
    ``migrated`` is written; the others wait for their parent."""
    migrated15 = {m[:15] for m in migrated}
    now, pending = [], []
    for ref in references:
        (now if ref.parent_legacy_id[:15] in migrated15 else pending).append(ref)
    return now, pending


def pending_issue(ref: CrossReference) -> Issue:
    return Issue(
        WARNING,
        ref.object,
        ref.legacy_id,
        ref.field,
        PENDING_REFERENCE,
        f"{ref.parent_object} {ref.parent_legacy_id} (another customer) is not migrated yet: "
        f"{ref.relationship} is pending and is set when that customer completes",
    )

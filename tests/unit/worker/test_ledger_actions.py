"""The ledger's action per written record: created, updated, or uncertain after an attempt
that was interrupted between its V2 write and its audit (pure: pipeline._ledger)."""

from __future__ import annotations

from migration_app.contracts.customer_status import CustomerStatus
from migration_app.worker.pipeline import (
    INTERRUPTED_ATTEMPT,
    UNCERTAIN,
    CustomerOutcome,
    MigrationRequest,
    _ledger,
)

ACC = "001A00000000001AAA"


def outcome(interrupted: int | None) -> CustomerOutcome:
    request = MigrationRequest(ACC, "corr", 2, interrupted_attempt=interrupted)
    return CustomerOutcome(request=request, status=CustomerStatus.COMPLETED, started_at=0.0)


def test_created_and_updated_as_salesforce_says_after_a_clean_attempt() -> None:
    out = outcome(None)
    _ledger(out, "Account", ACC, {"id": "A1", "created": True})
    _ledger(out, "Contact", "003", {"id": "C1", "created": False})
    assert [(r.v2_id, r.action) for r in out.records] == [("A1", "created"), ("C1", "updated")]
    assert out.issues == []


def test_after_an_interrupted_attempt_an_update_is_uncertain_and_said_once() -> None:
    out = outcome(1)
    _ledger(out, "Account", ACC, {"id": "A1", "created": False})
    _ledger(out, "Contact", "003", {"id": "C1", "created": False})
    _ledger(out, "Case", "500", {"id": "K1", "created": True})
    assert [r.action for r in out.records] == [UNCERTAIN, UNCERTAIN, "created"]
    assert [i.code for i in out.issues] == [INTERRUPTED_ATTEMPT]
    assert "attempt 1 was interrupted" in out.issues[0].message

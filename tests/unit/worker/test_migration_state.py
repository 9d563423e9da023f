"""The per-customer state machine: PENDING -> IN_PROGRESS -> COMPLETED | FAILED | DRY_RUN."""

from __future__ import annotations

import pytest

from migration_app.contracts.customer_status import TERMINAL_STATUSES, CustomerStatus
from migration_app.worker.migration_state import (
    MigrationState,
    finished,
    new_state,
    should_skip,
    started,
)

CID = "001A00000000001AAA"


def _finish(state: MigrationState, status: CustomerStatus, **kw) -> MigrationState:
    return finished(state, status, counts=kw.pop("counts", {}), warnings=0, errors=0, **kw)


def test_new_state_is_pending_with_no_attempts() -> None:
    state = new_state(CID)

    assert state.customer_id == CID
    assert state.status == CustomerStatus.PENDING.value
    assert state.attempt == 0
    assert state.skipped_duplicates == 0
    assert state.started_at is None and state.finished_at is None
    assert state.updated_at > 0


def test_started_counts_an_attempt_and_clears_the_last_run() -> None:
    before = _finish(started(new_state(CID), "c1", now=10.0), CustomerStatus.FAILED, now=20.0)
    before = before.derive(last_error="boom")

    state = started(before, "c2", now=30.0)

    assert state.status == CustomerStatus.IN_PROGRESS.value
    assert state.attempt == 2
    assert state.correlation_id == "c2"
    assert (state.started_at, state.finished_at, state.updated_at) == (30.0, None, 30.0)
    assert state.last_error is None
    # derive returns a new record; the table's old value is untouched
    assert (before.status, before.attempt, before.last_error) == ("FAILED", 1, "boom")


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_finished_records_the_outcome_for_every_terminal_status(status: CustomerStatus) -> None:
    state = started(new_state(CID), "c1", now=10.0)

    done = finished(
        state,
        status,
        counts={"Account": 1, "Contact": 2},
        warnings=3,
        errors=1,
        v2_account_id="001V2",
        last_error="err",
        now=12.5,
    )

    assert done.status == status.value
    assert done.counts == {"Account": 1, "Contact": 2}
    assert (done.warnings, done.errors) == (3, 1)
    assert (done.v2_account_id, done.last_error) == ("001V2", "err")
    assert (done.started_at, done.finished_at, done.updated_at) == (10.0, 12.5, 12.5)
    assert (done.attempt, done.correlation_id) == (1, "c1")


@pytest.mark.parametrize("status", [CustomerStatus.PENDING, CustomerStatus.IN_PROGRESS])
def test_finished_rejects_a_non_terminal_status(status: CustomerStatus) -> None:
    with pytest.raises(ValueError, match="not a terminal status"):
        _finish(started(new_state(CID), "c1"), status)


def test_should_skip_only_a_completed_customer_unless_forced() -> None:
    assert should_skip(None, force=False) is False
    completed = _finish(started(new_state(CID), "c1"), CustomerStatus.COMPLETED)
    assert should_skip(completed, force=False) is True
    assert should_skip(completed, force=True) is False
    for status in (CustomerStatus.FAILED, CustomerStatus.DRY_RUN):
        assert should_skip(_finish(started(new_state(CID), "c1"), status), force=False) is False
    assert should_skip(new_state(CID), force=False) is False
    assert should_skip(started(new_state(CID), "c1"), force=False) is False


def test_a_failed_customer_is_retried_and_then_completed() -> None:
    state = started(new_state(CID), "c1", now=1.0)
    state = _finish(state, CustomerStatus.FAILED, last_error="HTTP 400", now=2.0)
    assert not should_skip(state, force=False)

    state = started(state, "c2", now=3.0)
    state = _finish(state, CustomerStatus.COMPLETED, v2_account_id="001V2", now=4.0)

    assert (state.status, state.attempt, state.last_error) == ("COMPLETED", 2, None)
    assert should_skip(state, force=False)


def test_state_survives_the_tables_json_serialization() -> None:
    state = _finish(
        started(new_state(CID), "c1", now=1.0),
        CustomerStatus.COMPLETED,
        counts={"Account": 1},
        v2_account_id="001V2",
        now=2.0,
    )

    again = MigrationState.loads(state.dumps())

    assert again == state
    assert isinstance(again, MigrationState)

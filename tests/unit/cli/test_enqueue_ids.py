"""`migration-app enqueue` refuses ids that are no V1 Account Id before publishing anything."""

from __future__ import annotations

from migration_app.cli.enqueue import refuse_non_ids

GOOD = "0011S0000000005QAA"


def test_account_ids_pass() -> None:
    assert refuse_non_ids([GOOD, GOOD[:15]]) == ""


def test_a_typo_refuses_the_whole_call_and_names_the_bad_ids() -> None:
    message = refuse_non_ids([GOOD, "not-an-id", "customer_id", GOOD + "X"])
    assert message.startswith("enqueue: 3 of 4 id(s) are not V1 Account Ids")
    assert "'not-an-id'" in message and "'customer_id'" in message and "nothing enqueued" in message
    assert repr(GOOD) not in message


def test_many_bad_ids_are_summarised() -> None:
    message = refuse_non_ids([f"bad-{n}" for n in range(12)] + ["x" * 500])
    assert "and 8 more" in message and "x" * 41 not in message

"""The console's actions: what confirms one (issue 24: one confirmation rolled a customer back)."""

from __future__ import annotations

from migration_app.web.console.actions import ACTIONS, confirmation_problem


def test_a_console_rollback_is_confirmed_by_the_typed_customer_id_only() -> None:
    rollback = ACTIONS["rollback"]
    assert confirmation_problem(rollback, "001A", {"confirm": "yes", "confirm_id": "001A"}) == ""
    assert confirmation_problem(rollback, "001A", {"confirm": "yes", "confirm_id": "001B"})
    assert confirmation_problem(rollback, "001A", {"confirm": "yes"})
    assert confirmation_problem(ACTIONS["remigrate"], "001A", {"confirm": "yes"}) == ""

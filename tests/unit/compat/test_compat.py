"""The private APIs of Faust, aiomonitor and CPython we use still exist in the pinned versions.

When an upgrade removes one, these fail naming the attribute and what it was for.
"""

from __future__ import annotations

import pytest

from migration_app.compat import (
    _required,
    aiokafka_internals,
    aiomonitor_internals,
    faust_internals,
    python_internals,
)


@pytest.mark.parametrize(
    "module",
    [faust_internals, aiokafka_internals, aiomonitor_internals, python_internals],
    ids=lambda m: m.__name__,
)
def test_private_apis_we_use_still_exist(module) -> None:  # type: ignore[no-untyped-def]
    lost = module.missing_attributes()
    assert not lost, f"{module.__name__}: the installed library no longer has:\n  " + "\n  ".join(
        lost
    )


def test_the_check_reports_a_missing_attribute_by_name() -> None:
    class Owner:
        present = 1

    lost = _required.missing(
        [_required.Required(Owner, "present", "x"), _required.Required(Owner, "_gone", "y")]
    )
    assert len(lost) == 1 and "Owner._gone" in lost[0] and "used for: y" in lost[0]


def test_current_event_is_set_inside_the_block_and_reset_after() -> None:
    from faust import streams

    class Event:
        pass

    event = Event()
    before = streams._current_event.get(None)
    with faust_internals.current_event(event):  # type: ignore[arg-type]
        ref = streams._current_event.get()
        assert ref() is event
    assert streams._current_event.get(None) is before

"""Each value transform on clean and dirty values."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from migration_app.migration.field_transforms import Boolean, Email, Phone, Picklist, Trim, Truncate
from migration_app.migration.issues import (
    ERROR,
    NORMALISED,
    TRUNCATED,
    UNMAPPABLE,
    VALUE_DROPPED,
    WARNING,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("07700 900123", "+447700900123"),
        ("07700900123", "+447700900123"),
        ("+44 7700 900123", "+447700900123"),
        ("+447700900123", "+447700900123"),
        ("0044 7700 900123", "+447700900123"),
        ("(020) 7946-0018", "+442079460018"),
        ("+1 415 555 2671", "+14155552671"),
        ("  07700 900123  ", "+447700900123"),
    ],
)
def test_phone_normalises_to_e164(raw: str, expected: str) -> None:
    assert Phone()(raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "n/a",
        "123",
        "call the office",
        "++44",
        "0770090012345678",
        "0800-CALL-NOW",  # libphonenumber alone would read the letters as a keypad
        "+44 (0) ext. ??",
        "Tel 07700 900123",
    ],
)
def test_phone_unparsable_is_dropped_with_warning(raw: str) -> None:
    value, problem = Phone()(raw)
    assert value is None
    assert problem is not None
    assert (problem.severity, problem.code) == (WARNING, VALUE_DROPPED)
    assert raw in problem.message


def test_phone_region_applies_to_national_numbers() -> None:
    assert Phone(region="US")("415 555 2671") == ("+14155552671", None)


@pytest.mark.parametrize("raw", ["07700 900123 ext. 42", "07700 900123 x42", "07700900123#42"])
def test_phone_extension_is_dropped_with_warning(raw: str) -> None:
    value, problem = Phone()(raw)
    assert value == "+447700900123"
    assert problem is not None and problem.code == NORMALISED
    assert "'42'" in problem.message


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_phone_absent_is_absent_without_issue(raw: str | None) -> None:
    assert Phone()(raw) == (None, None)


@pytest.mark.parametrize(
    "raw", ["ada@example.com", "first.last+tag@mail.example.co.uk", "O'Brien@example.ie"]
)
def test_email_valid_is_kept(raw: str) -> None:
    assert Email()(raw) == (raw, None)


def test_email_is_trimmed() -> None:
    assert Email()("  ada@example.com ") == ("ada@example.com", None)


@pytest.mark.parametrize(
    "raw",
    [
        "ada@",
        "@example.com",
        "ada example.com",
        "ada@@example.com",
        "ada@example",
        "a..b@x.com",
        "ada@example.c0m",
        ("x" * 75) + "@example.com",
    ],
)
def test_email_invalid_is_dropped_with_warning(raw: str) -> None:
    value, problem = Email()(raw)
    assert value is None
    assert problem is not None
    assert (problem.severity, problem.code) == (WARNING, VALUE_DROPPED)


STATUS = {"Active": "Active", "Closed": "Closed", "Debt": "In_Arrears"}


def test_picklist_maps_values() -> None:
    picklist = Picklist(STATUS)
    assert picklist("Debt") == ("In_Arrears", None)
    assert picklist("Active") == ("Active", None)


def test_picklist_ignores_case_and_whitespace() -> None:
    assert Picklist(STATUS)(" debt ") == ("In_Arrears", None)


def test_picklist_unknown_warn_and_drop() -> None:
    value, problem = Picklist(STATUS, on_unknown="warn-and-drop")("Suspended")
    assert value is None
    assert problem is not None
    assert (problem.severity, problem.code) == (WARNING, UNMAPPABLE)
    assert "Suspended" in problem.message


def test_picklist_unknown_error() -> None:
    value, problem = Picklist(STATUS, on_unknown="error")("Suspended")
    assert value is None
    assert problem is not None and (problem.severity, problem.code) == (ERROR, UNMAPPABLE)


def test_picklist_unknown_default() -> None:
    value, problem = Picklist(STATUS, on_unknown="default", default="Active")("Suspended")
    assert value == "Active"
    assert problem is not None and (problem.severity, problem.code) == (WARNING, UNMAPPABLE)


def test_picklist_absent_is_absent() -> None:
    assert Picklist(STATUS, on_unknown="error")(None) == (None, None)


def test_truncate_cuts_long_values_with_warning() -> None:
    value, problem = Truncate(4000)("x" * 4001)
    assert value == "x" * 4000
    assert problem is not None and (problem.severity, problem.code) == (WARNING, TRUNCATED)
    assert "4001" in problem.message


def test_truncate_keeps_values_at_the_limit() -> None:
    assert Truncate(5)("12345") == ("12345", None)
    assert Truncate(5)(None) == (None, None)


def test_trim_strips_and_blanks_become_none() -> None:
    assert Trim()("  Acme  ") == ("Acme", None)
    assert Trim()("   ") == (None, None)
    assert Trim()(None) == (None, None)


@pytest.mark.parametrize(
    ("raw", "expected"), [(True, True), (False, False), (None, False), ("true", True), ("0", False)]
)
def test_boolean_copy(raw: object, expected: bool) -> None:
    assert Boolean()(raw) == (expected, None)


def _library_e164(text: str) -> str | None:
    """What libphonenumber alone says, for checking the fast path against it."""
    try:
        number = phonenumbers.parse(text, "GB")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def test_phone_fast_path_agrees_with_libphonenumber() -> None:
    rng = random.Random(1234)
    layouts = ["0{a} {b}", "+44 {a} {b}", "0044{a}{b}", "(0{a}) {b}", "+44-{a}-{b}", "0{a}.{b}"]
    for _ in range(500):
        digits = str(rng.randrange(1, 10)) + f"{rng.randrange(10**9):09d}"
        for layout in layouts:
            text = layout.format(a=digits[:4], b=digits[4:])
            assert Phone()(text) == (_library_e164(text), None), text

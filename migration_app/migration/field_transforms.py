"""Value transforms: small precompiled callables applied to one field value.

Each transform is built once from the mapping (regexes, lookup tables, phone region) and then
called per value with no allocation beyond its result, because the transform runs on the event
loop for whole batches of customers. A transform returns the new value and, when the value was
dropped, cut or rejected, a Problem that the caller turns into an Issue for the record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import phonenumbers

from migration_app.migration.issues import (
    ERROR,
    NORMALISED,
    TRUNCATED,
    UNMAPPABLE,
    VALUE_DROPPED,
    WARNING,
    Severity,
)


class Problem(NamedTuple):
    severity: Severity
    code: str
    message: str


Result = tuple[Any, Problem | None]


class Transform(Protocol):
    """A precompiled value transform. `name` is the mapping keyword that builds it."""

    name: str

    def __call__(self, value: Any) -> Result: ...


def _shorten(value: Any, limit: int = 40) -> str:
    """Quote a value for a message without copying a 32k description into the audit table."""
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")


@dataclass(frozen=True, slots=True)
class Trim:
    """Strip surrounding whitespace; a blank string becomes None (absent), as V2 treats it."""

    name: str = "trim"

    def __call__(self, value: Any) -> Result:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None, None
        return value, None


@dataclass(frozen=True, slots=True)
class Truncate:
    """Cut strings to `length` characters with a warning, so V2 never answers STRING_TOO_LONG."""

    length: int
    name: str = "truncate"

    def __call__(self, value: Any) -> Result:
        if isinstance(value, str) and len(value) > self.length:
            message = f"cut from {len(value)} to {self.length} characters"
            return value[: self.length], Problem(WARNING, TRUNCATED, message)
        return value, None


# Fast path for the overwhelmingly common UK layouts: 0, +44 or 0044 then a 10-digit national
# number, separated by spaces, dashes, dots or brackets. libphonenumber gives the same answer
# for all of these (checked in the unit tests) at ~30x the cost; everything else goes to it.
_SEPARATORS = str.maketrans("", "", " -.()\t")
_GB_FAST = re.compile(r"(?:\+44|0044|0)([1-9][0-9]{9})")
# libphonenumber reads letters as a vanity keypad ("0800-CALL-NOW", even "ext. ??"); in the
# legacy org letters mean a note ("ask for Ann"), so only an extension suffix may hold them.
_EXTENSION_SUFFIX = re.compile(r"(?:ext(?:ension|n)?\.?|x|#)\s*[0-9]{1,7}\s*$", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True, slots=True)
class Phone:
    """Normalise to E.164; numbers without a country code are read in `region` (default GB).

    Accepts any layout libphonenumber parses ("07700 900123", "+44 7700 900123", "0044 ...").
    A number that does not parse, has letters outside an extension suffix, or has an
    impossible length for its country is dropped with a warning. "Possible" rather than
    "valid" on purpose: valid-number metadata rejects whole reserved ranges (Ofcom drama
    numbers) that are still real data in the legacy org.
    """

    region: str = "GB"
    name: str = "phone"

    def __call__(self, value: Any) -> Result:
        if value is None:
            return None, None
        text = str(value).strip()
        if not text:
            return None, None
        if self.region == "GB":
            fast = _GB_FAST.fullmatch(text.translate(_SEPARATORS))
            if fast is not None:
                return "+44" + fast.group(1), None
        number = None
        if _LETTER.search(_EXTENSION_SUFFIX.sub("", text)) is None:
            try:
                number = phonenumbers.parse(text, self.region)
            except phonenumbers.NumberParseException:
                number = None
        if number is None or not phonenumbers.is_possible_number(number):
            return None, Problem(WARNING, VALUE_DROPPED, f"unparsable phone {_shorten(text)}")
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if number.extension:
            message = f"extension {number.extension!r} dropped from {_shorten(text)}"
            return e164, Problem(WARNING, NORMALISED, message)
        return e164, None


# Close to what Salesforce accepts for an Email field: dot-atom local part, dotted host names,
# alphabetic TLD. Compiled once at import.
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


@dataclass(frozen=True, slots=True)
class Email:
    """Keep syntactically valid addresses (trimmed); drop others with a warning.

    V2 rejects a whole record with INVALID_EMAIL_ADDRESS, so a bad address must not reach it.
    """

    max_length: int = 80
    name: str = "email"

    def __call__(self, value: Any) -> Result:
        if value is None:
            return None, None
        text = str(value).strip()
        if not text:
            return None, None
        if len(text) > self.max_length or _EMAIL_RE.fullmatch(text) is None:
            return None, Problem(WARNING, VALUE_DROPPED, f"invalid email {_shorten(text)}")
        return text, None


_TRUE_STRINGS = frozenset({"true", "1", "yes", "y"})


@dataclass(frozen=True, slots=True)
class Boolean:
    """Copy a checkbox; absent means False because V2 checkboxes cannot be null."""

    name: str = "boolean"

    def __call__(self, value: Any) -> Result:
        if isinstance(value, bool):
            return value, None
        if value is None:
            return False, None
        if isinstance(value, str):
            return value.strip().lower() in _TRUE_STRINGS, None
        return bool(value), None


ON_UNKNOWN_DROP = "warn-and-drop"
ON_UNKNOWN_ERROR = "error"
ON_UNKNOWN_DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Picklist:
    """Map V1 picklist values to V2 ones; matching ignores case and surrounding whitespace.

    Values missing from the map follow `on_unknown`: warn-and-drop (value becomes None),
    error (record rejected) or default (replaced by `default`, with a warning).
    """

    mapping: Mapping[str, str]
    on_unknown: str = ON_UNKNOWN_DROP
    default: str | None = None
    name: str = "picklist"
    _folded: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        folded = {key.strip().casefold(): target for key, target in self.mapping.items()}
        object.__setattr__(self, "_folded", folded)

    def __call__(self, value: Any) -> Result:
        if value is None:
            return None, None
        hit = self.mapping.get(value)
        if hit is not None:
            return hit, None
        text = str(value).strip()
        if not text:
            return None, None
        hit = self._folded.get(text.casefold())
        if hit is not None:
            return hit, None
        if self.on_unknown == ON_UNKNOWN_ERROR:
            return None, Problem(ERROR, UNMAPPABLE, f"unknown picklist value {_shorten(text)}")
        if self.on_unknown == ON_UNKNOWN_DEFAULT:
            message = f"unknown picklist value {_shorten(text)} replaced by {self.default!r}"
            return self.default, Problem(WARNING, UNMAPPABLE, message)
        return None, Problem(
            WARNING, UNMAPPABLE, f"unknown picklist value {_shorten(text)} dropped"
        )

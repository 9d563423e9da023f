"""Jinja filters: numbers with separators, UTC times with a relative hint, durations.

Server-side so every page reads the same without JavaScript, and times are always UTC (the
workers and the operators are in different zones; the audit stores timestamptz).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

DASH = "\u2013"  # what an unknown value shows


def number(value: Any) -> str:
    if value is None or value == "":
        return DASH
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def duration(seconds: float | None) -> str:
    """``42 s``, ``3 min``, ``2 h 5 min``, ``3 d 4 h``."""
    if seconds is None:
        return DASH
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def relative(value: Any, now: float | None = None) -> str:
    moment = _as_datetime(value)
    if moment is None:
        return ""
    delta = (time.time() if now is None else now) - moment.timestamp()
    return f"{duration(abs(delta))} {'ago' if delta >= 0 else 'from now'}"


def utc(value: Any) -> Markup:
    """``<time datetime=ISO title=relative>YYYY-MM-DD HH:MM:SS UTC</time> (3 min ago)``."""
    moment = _as_datetime(value)
    if moment is None:
        return Markup(DASH)
    moment = moment.astimezone(UTC)
    hint = relative(moment)
    return Markup(
        f'<time datetime="{moment.isoformat()}">{moment:%Y-%m-%d %H:%M:%S} UTC</time>'
        f' <span class="hint">({escape(hint)})</span>'
    )


FILTERS = {"number": number, "utc": utc, "relative": relative, "duration": duration}

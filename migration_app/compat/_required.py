"""The shape of a compat module's checklist: (owner, attribute, why we use it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Required:
    owner: Any
    attribute: str
    why: str

    @property
    def label(self) -> str:
        name = getattr(self.owner, "__qualname__", None) or getattr(self.owner, "__name__", "?")
        module = getattr(self.owner, "__module__", None) or ""
        return f"{module}.{name}.{self.attribute}".lstrip(".")


def missing(required: list[Required]) -> list[str]:
    """Human-readable lines for each private attribute the installed library no longer has."""
    return [f"{r.label} (used for: {r.why})" for r in required if not hasattr(r.owner, r.attribute)]

"""How the load writes to V2: the strategy (one Composite Graph per customer, or sObject
Collections) and its switches. Plain configuration, built from settings by ``client_config`` and
handed to the worker's pipeline."""

from __future__ import annotations

from dataclasses import dataclass

LOAD_STRATEGIES = ("graph", "collections")


@dataclass(frozen=True)
class LoadOptions:
    """How the load writes to V2 (from settings; the defaults are the production ones)."""

    strategy: str = "graph"
    require_atomic: bool = False  # a customer too large for one graph fails instead
    allow_duplicate_save: bool = False  # Sforce-Duplicate-Rule-Header: allowSave=true
    api_version: str = "66.0"

    def __post_init__(self) -> None:
        if self.strategy not in LOAD_STRATEGIES:
            raise ValueError(f"load strategy must be one of {LOAD_STRATEGIES}")

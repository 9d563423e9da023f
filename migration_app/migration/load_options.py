"""How the load writes to V2: the strategy (one Composite Graph per customer, or sObject
Collections) and its switches. Plain configuration, built from settings by ``client_config`` and
handed to the worker's pipeline."""

from __future__ import annotations

from dataclasses import dataclass

LOAD_STRATEGIES = ("graph", "collections", "bulk", "auto")


@dataclass(frozen=True)
class LoadOptions:
    """How the load writes to V2 (from settings; the defaults are the production ones)."""

    strategy: str = "graph"
    require_atomic: bool = False  # a customer too large for one graph fails instead
    allow_duplicate_save: bool = False  # Sforce-Duplicate-Rule-Header: allowSave=true
    api_version: str = "66.0"
    #: auto: bulk when the batch writes more records than this (Salesforce: "more than 2,000
    #: records is a good candidate for Bulk API 2.0"), graph otherwise
    bulk_threshold: int = 2000
    bulk_deadline_s: float = 600.0  # a Bulk API job still running after this is aborted

    def strategy_for(self, records: int) -> str:
        """The strategy for a batch writing ``records`` records."""
        if self.strategy != "auto":
            return self.strategy
        return "bulk" if records > self.bulk_threshold else "graph"

    def __post_init__(self) -> None:
        if self.strategy not in LOAD_STRATEGIES:
            raise ValueError(f"load strategy must be one of {LOAD_STRATEGIES}")

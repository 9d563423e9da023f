"""The per-customer state machine's statuses: the one definition every module, the dev tools,
the benchmark and the tests import.

PENDING -> IN_PROGRESS -> COMPLETED | FAILED (DRY_RUN for previews; ROLLED_BACK after an undo,
which a later event migrates again without force). A leaf module (no imports
from the package) so anything may use it without pulling in Faust or a client.
"""

from __future__ import annotations

from enum import StrEnum


class CustomerStatus(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    DRY_RUN = "DRY_RUN"
    ROLLED_BACK = "ROLLED_BACK"


#: Statuses that end an attempt: the audit run row, the result event and the table agree on them.
TERMINAL_STATUSES = frozenset(
    {
        CustomerStatus.COMPLETED,
        CustomerStatus.FAILED,
        CustomerStatus.DRY_RUN,
        CustomerStatus.ROLLED_BACK,
    }
)

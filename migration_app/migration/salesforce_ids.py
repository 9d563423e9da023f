"""What a Salesforce record Id looks like: 15 case-sensitive or 18 case-safe alphanumerics."""

from __future__ import annotations

import re

SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


def is_salesforce_id(value: object) -> bool:
    return isinstance(value, str) and SALESFORCE_ID.fullmatch(value) is not None

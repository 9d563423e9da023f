"""Duplicate rules (Duplicate Management) and the Sforce-Duplicate-Rule-Header.

Why: the V2 org may have a duplicate rule (e.g. on Contact.Email) that refuses a second record
with the same value; the loader must either see DUPLICATES_DETECTED for those records or send
`Sforce-Duplicate-Rule-Header: allowSave=true` to save them anyway. Off by default.

Modelled rule: an exact, case-insensitive match on one field, action "Allow" with an alert on
create and on edit. Through the API such an alert fails the save unless allowSave=true (the
header's allowSave "applies if an alert is enabled for the action"; a "Block" rule cannot be
bypassed, which this sandbox does not model). The header is documented for API 52.0 and later;
it is honoured here whatever the request's version.

Not confirmed from Salesforce's public docs: the REST JSON rendering of the error's
`duplicateResult` (the fields below are the SOAP DuplicateError / DuplicateResult / MatchResult /
MatchRecord objects' fields, rendered the way REST renders SaveResult errors), the exact alert
message of a custom rule, and the MatchRecord's matchConfidence for an exact rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import SfError
from .schema import OrgSchema
from .store import Store

HEADER = "Sforce-Duplicate-Rule-Header"
MESSAGE = "You're creating a duplicate record. We recommend you use an existing record instead."


@dataclass(frozen=True)
class DuplicateRule:
    sobject: str
    field: str

    @property
    def developer_name(self) -> str:
        return f"{self.sobject}_{self.field}_Duplicate_Rule".replace("__c", "").replace("__", "_")

    @property
    def matching_rule(self) -> str:
        return f"{self.sobject}_{self.field}_Matching_Rule".replace("__c", "").replace("__", "_")


def parse_rules(specs: tuple[str, ...], schema: OrgSchema) -> list[DuplicateRule]:
    """`Contact.Email` -> a rule on that (existing) field; raise ValueError otherwise."""
    rules = []
    for spec in specs:
        obj_name, _, fname = spec.partition(".")
        obj = schema.get(obj_name.strip())
        f = obj.field(fname.strip()) if obj is not None and fname else None
        if obj is None or f is None:
            raise ValueError(f"--duplicate-rule wants Object.Field of this org, not {spec!r}")
        rules.append(DuplicateRule(obj.name, f.name))
    return rules


def allow_save(headers: Mapping[str, str]) -> bool:
    """True when Sforce-Duplicate-Rule-Header says allowSave=true (any case; ';' or ',')."""
    raw = next((v for k, v in headers.items() if k.lower() == HEADER.lower()), "")
    for part in raw.replace(",", ";").split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "allowsave" and value.strip().lower() == "true":
            return True
    return False


def check(
    rules: list[DuplicateRule],
    store: Store,
    sobject: str,
    record: dict,
    rid: str | None,
    version: str,
) -> None:
    """Raise DUPLICATES_DETECTED when `record` (the values it will have once saved) matches
    another record of `sobject` under one of `rules`."""
    for rule in rules:
        if rule.sobject != sobject:
            continue
        value = record.get(rule.field)
        if not isinstance(value, str) or not value:
            continue
        folded = value.casefold()
        rows = store.table(sobject).rows
        matches = [
            other
            for other, row in rows.items()
            if other != rid
            and isinstance(row.get(rule.field), str)
            and row[rule.field].casefold() == folded
        ]
        if matches:
            raise SfError(
                400,
                "DUPLICATES_DETECTED",
                MESSAGE,
                [],
                {"duplicateResult": _duplicate_result(rule, matches, version)},
            )


def _duplicate_result(rule: DuplicateRule, matches: list[str], version: str) -> dict:
    return {
        "allowSave": True,
        "duplicateRule": rule.developer_name,
        "duplicateRuleEntityType": rule.sobject,
        "errorMessage": MESSAGE,
        "matchResults": [
            {
                "entityType": rule.sobject,
                "errors": [],
                "matchEngine": "ExactMatchEngine",
                "matchRecords": [
                    {
                        "additionalInformation": [],
                        "fieldDiffs": [],
                        "matchConfidence": 100.0,
                        "record": {
                            "attributes": {
                                "type": rule.sobject,
                                "url": f"/services/data/v{version}/sobjects/{rule.sobject}/{rid}",
                            },
                            "Id": rid,
                        },
                    }
                    for rid in matches
                ],
                "rule": rule.matching_rule,
                "size": len(matches),
                "success": True,
            }
        ],
    }

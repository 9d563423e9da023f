"""Reference data both orgs hold: users and record types, seeded consistently across V1 and V2.

Why: the mapping resolves owners and record types against V2, so the two orgs must tell a
coherent story that also has the gaps real migrations meet. V2's users are V1's re-created under
new ids and usernames (same Email and FederationIdentifier), some inactive in V2 and some never
re-created; V1 record types partly keep their DeveloperName in V2, one is renamed, one has no V2
counterpart and one is inactive there. Fixed tables (not the customer RNG), so both orgs agree
whatever their --seed and --customers, and the customers' own values stay what they were.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from .store import Store

V2Fate = Literal["active", "inactive", "missing"]


@dataclass(frozen=True)
class Person:
    """One employee: a V1 user, and what became of them in V2."""

    first: str
    last: str
    v2: V2Fate = "active"
    v1_active: bool = True
    #: the V1 Email as typed in the legacy org (case differs from V2's: normalisation matters)
    v1_email_upper: bool = False

    @property
    def handle(self) -> str:
        return f"{self.first}.{self.last}".lower()

    @property
    def email(self) -> str:
        return f"{self.handle}@energy.example"

    @property
    def federation_id(self) -> str:
        return f"EMP-{self.first[:1]}{self.last}".upper()


PEOPLE: tuple[Person, ...] = (
    Person("Alice", "Archer"),
    Person("Ben", "Baker", v1_email_upper=True),
    Person("Chloe", "Carter"),
    Person("Dev", "Desai"),
    Person("Emma", "Ellis", v1_email_upper=True),
    Person("Farid", "Fox"),
    Person("Grace", "Gill"),
    Person("Hugo", "Hart", v2="inactive"),  # left: deactivated in V2
    Person("Iris", "Ives", v2="inactive"),
    Person("Jonah", "Judd", v2="missing"),  # never re-created in V2
    Person("Kate", "Kerr", v2="missing", v1_active=False),  # inactive in V1 too, still owns data
)
#: V2-only user the packaged mapping names as the fallback owner
FALLBACK_USER = Person("Migration", "Owner")
V1_DOMAIN = "energy-v1.example"
V2_DOMAIN = "energy-v2.example"


@dataclass(frozen=True)
class RecordTypeDef:
    sobject: str
    developer_name: str
    active: bool = True

    @property
    def label(self) -> str:
        return self.developer_name.replace("_", " ")


#: V1 record types and the share of records carrying each (the rest of the weights: none)
V1_RECORD_TYPES: dict[str, tuple[tuple[RecordTypeDef, float], ...]] = {
    "Account": (
        (RecordTypeDef("Account", "Residential"), 0.55),
        (RecordTypeDef("Account", "Business"), 0.25),
        (RecordTypeDef("Account", "Small_Business"), 0.12),  # renamed SME in V2
        (RecordTypeDef("Account", "Legacy_Prepay"), 0.08),  # no V2 counterpart
    ),
    "Case": (
        (RecordTypeDef("Case", "Complaint"), 0.3),
        (RecordTypeDef("Case", "Billing_Enquiry"), 0.35),  # renamed Billing_Query in V2
        (RecordTypeDef("Case", "Service_Request"), 0.25),
        (RecordTypeDef("Case", "Field_Visit"), 0.1),  # inactive in V2
    ),
}
V2_RECORD_TYPES: tuple[RecordTypeDef, ...] = (
    RecordTypeDef("Account", "Residential"),
    RecordTypeDef("Account", "Business"),
    RecordTypeDef("Account", "SME"),
    RecordTypeDef("Case", "Complaint"),
    RecordTypeDef("Case", "Billing_Query"),
    RecordTypeDef("Case", "Service_Request"),
    RecordTypeDef("Case", "Field_Visit", active=False),
)


@dataclass(frozen=True)
class ReferenceIds:
    """Ids of the seeded reference data, for the customer seed to point records at."""

    users: tuple[str, ...]  # the PEOPLE who exist in this org, in PEOPLE order
    record_types: dict[str, tuple[tuple[str, float], ...]]  # object -> (id, weight)


def integration_user(username: str) -> dict:
    """The API user the org's sessions run as (the default owner of records it creates)."""
    return {
        "Username": username,
        "Email": username,
        "FederationIdentifier": None,
        "IsActive": True,
        "FirstName": "Integration",
        "LastName": "User",
        "Name": "Integration User",
    }


def username(person: Person, org: str) -> str:
    """The person's Username in that org (first.last@energy-v1.example / ...-v2.example)."""
    return f"{person.handle}@{V1_DOMAIN if org == 'v1' else V2_DOMAIN}"


def is_active(person: Person, org: str) -> bool:
    return person.v1_active if org == "v1" else person.v2 == "active"


def agents(org: str) -> tuple[str, ...]:
    """Usernames of the org's active people users besides the integration user: the agents who
    work in the org (a JWT whose `sub` is one of them logs in as that person). Both orgs have
    several (seven active people in V2, ten in V1)."""
    return tuple(username(p, org) for p in PEOPLE if is_active(p, org))


def _user(person: Person, org: str) -> dict:
    email = person.email
    if org == "v1" and person.v1_email_upper:
        email = f"{person.first}.{person.last}@Energy.example"
    active = is_active(person, org)
    return {
        "Username": username(person, org),
        "Email": email,
        "FederationIdentifier": person.federation_id,
        "IsActive": active,
        "FirstName": person.first,
        "LastName": person.last,
        "Name": f"{person.first} {person.last}",
    }


def seed_reference(store: Store, org: str) -> ReferenceIds:
    """Insert the org's users and record types (call once, right after the integration user)."""
    users = []
    for person in PEOPLE:
        if org == "v2" and person.v2 == "missing":
            continue
        users.append(store.insert("User", _user(person, org)))
    if org == "v2":
        store.insert("User", _user(FALLBACK_USER, org))
    record_types: dict[str, tuple[tuple[str, float], ...]] = {}
    if org == "v1":
        for sobject, weighted in V1_RECORD_TYPES.items():
            record_types[sobject] = tuple(
                (store.insert("RecordType", _record_type(rt)), weight) for rt, weight in weighted
            )
    else:
        for rt in V2_RECORD_TYPES:
            store.insert("RecordType", _record_type(rt))
    return ReferenceIds(tuple(users), record_types)


def _record_type(rt: RecordTypeDef) -> dict:
    return {
        "DeveloperName": rt.developer_name,
        "Name": rt.label,
        "SobjectType": rt.sobject,
        "IsActive": rt.active,
    }


class OwnerPicker:
    """Owners and record types for seeded records, from an RNG of its own: the customer RNG's
    sequence (hence every seeded value and count the tests rely on) stays as it was."""

    def __init__(self, ids: ReferenceIds, seed: int) -> None:
        self.ids = ids
        self.rng = random.Random(f"owners-{seed}")

    def owner(self) -> str:
        return self.rng.choice(self.ids.users)

    def record_type(self, sobject: str) -> str | None:
        weighted = self.ids.record_types.get(sobject)
        if not weighted:
            return None
        ids, weights = zip(*weighted, strict=True)
        return self.rng.choices(ids, weights)[0]

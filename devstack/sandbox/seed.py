"""Deterministic V1 customer generator, with dirty data at a configurable rate.

Why: the migration must meet the same messy records every run (same seed -> same ids and values),
so warnings and errors are exercised reproducibly: invalid emails, unparsable phones, missing last
names, over-long descriptions and unknown picklist values.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .reference_data import OwnerPicker, ReferenceIds
from .store import Store

_FIRST = (
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Noah",
    "Oliver",
    "George",
    "Arthur",
    "Leo",
    "Harry",
    "Sophia",
    "Grace",
    "Freya",
    "Jack",
    "Oscar",
    "Lily",
    "Evie",
    "Thomas",
    "Ruby",
)
_LAST = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Wright",
    "Walker",
    "Evans",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Clarke",
    "Hughes",
)
_STREETS = ("High Street", "Station Road", "Main Street", "Park Road", "Church Lane", "Mill Lane")
_CITIES = ("London", "Leeds", "Bristol", "Manchester", "Glasgow", "Cardiff", "York", "Bath")
_TARIFFS = ("STANDARD-VAR", "FIXED-12M", "FIXED-24M", "GREEN-FLEX", "ECONOMY-7")
_SUBJECTS = (
    "Billing question",
    "Meter reading dispute",
    "Moving home",
    "Payment plan",
    "Smart meter install",
    "Tariff change",
    "Complaint about estimate",
)
_BAD_EMAILS = ("{f}.{l}@", "{f} {l}@example.com", "n/a", "{f}.{l}@@example.com", "{f}@example")
_BAD_PHONES = ("call after 6pm", "0800-CALL-NOW", "12", "ask for {f}", "+44 (0) ext. ??")
_BAD_STATUS = ("Suspended", "Pending Review", "Dormant")
_BAD_PRIORITY = ("Urgent", "Critical", "P1")
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SeedStats:
    accounts: int
    contacts: int
    cases: int
    meters: int
    #: Accounts with a ParentId (sites of another customer's Account)
    sites: int = 0


@dataclass(frozen=True)
class SeedOptions:
    """What the seed adds to each customer beyond Account, Contacts, Cases and Meters. Every part
    draws from an RNG of its own, so the customers' own values and ids stay what they were."""

    #: share of customers that are a site of another customer (Account.ParentId); about a fifth
    #: of the sites are sites of a site (a chain of 2). Never a loop.
    site_rate: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.site_rate <= 0.5:
            raise ValueError("site_rate must be within [0, 0.5]")


def seed_v1(
    store: Store,
    customers: int,
    seed: int,
    dirty_rate: float = 0.05,
    reference: ReferenceIds | None = None,
    options: SeedOptions | None = None,
) -> SeedStats:
    """Insert `customers` V1 customers (Account + 1-4 Contacts + 0-5 Cases + 1-2 Meter__c).

    With `reference` (the org's seeded users and record types) every record gets an owner and
    Accounts and Cases a record type, drawn from a second RNG so the customer values stay put.
    Every record's CreatedDate, LastModifiedDate and SystemModstamp are its historical creation
    time, and its CreatedById and LastModifiedById its owner (else the org's default user).
    """
    rng = random.Random(seed)
    gen = _Gen(rng, dirty_rate)
    picker = OwnerPicker(reference, seed) if reference is not None else None

    def owned(sobject: str, values: dict) -> dict:
        if picker is None:
            return values
        values["OwnerId"] = picker.owner()
        record_type = picker.record_type(sobject)
        if record_type is not None:
            values["RecordTypeId"] = record_type
        return values

    def insert(sobject: str, values: dict, created: str) -> str:
        # people of the legacy org created (and last touched) what they own
        return store.insert(sobject, values, created=created, user=values.get("OwnerId"))

    n_contacts = n_cases = n_meters = 0
    for i in range(customers):
        stamp = _stamp(i)
        account_id = insert("Account", owned("Account", gen.account(i)), stamp)
        contact_ids = []
        for j in range(rng.randint(1, 4)):
            contact = owned("Contact", gen.contact(account_id, j == 0))
            contact_ids.append(insert("Contact", contact, stamp))
        for k in range(rng.randint(0, 5)):
            contact = rng.choice(contact_ids) if rng.random() < 0.8 else None
            case = owned("Case", gen.case(account_id, contact))
            insert("Case", case, _stamp(i, hours=k + 1))
        n_meters_here = rng.randint(1, 2)
        for _ in range(n_meters_here):
            insert("Meter__c", owned("Meter__c", gen.meter(account_id)), stamp)
        n_contacts += len(contact_ids)
        n_meters += n_meters_here
    n_cases = len(store.table("Case").rows)
    opts = options or SeedOptions()
    sites = _seed_hierarchy(store, seed, opts.site_rate)
    return SeedStats(customers, n_contacts, n_cases, n_meters, sites)


def _seed_hierarchy(store: Store, seed: int, rate: float) -> int:
    """Make `rate` of the Accounts sites of another customer's Account (ParentId), business
    names first. Parents are "heads" (no parent of their own) or, for about a fifth of the sites,
    another site (a chain of 2), so no loop is possible; a parent may come before or after its
    site in creation order (a migration meets children before their parents). The rows are
    changed in place: a site was created linked, so its dates stay its creation time."""
    table = store.table("Account")
    ids = list(table.rows)
    n_sites = int(len(ids) * rate)
    if n_sites == 0 or len(ids) < 2:
        return 0
    rng = random.Random(f"hierarchy-{seed}")
    business = [rid for rid in ids if table.rows[rid]["Name"].endswith("Ltd")]
    taken = set(business)
    others = [rid for rid in ids if rid not in taken]
    rng.shuffle(business)
    rng.shuffle(others)
    pool = business + others
    sites, heads = pool[:n_sites], pool[n_sites:]
    first_level: list[str] = []
    for rid in sites:
        if first_level and rng.random() < 0.2:
            parent = rng.choice(first_level)  # a site of a site: a chain of 2
        else:
            parent = rng.choice(heads)
            first_level.append(rid)
        row = table.rows[rid]
        table.unindex(rid, row)
        row["ParentId"] = parent
        table.index(rid, row)
    return n_sites


def _stamp(i: int, hours: int = 0) -> str:
    """Creation time of customer i's records (a Case k hours after its Account: opened later)."""
    moment = _EPOCH + timedelta(minutes=7 * i, hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class _Gen:
    def __init__(self, rng: random.Random, dirty_rate: float) -> None:
        self.rng = rng
        self.dirty = dirty_rate

    def _is_dirty(self) -> bool:
        return self.rng.random() < self.dirty

    def _phone(self, first: str) -> str:
        if self._is_dirty():
            return self.rng.choice(_BAD_PHONES).format(f=first)
        return f"+44 {self.rng.randint(1000, 7999)} {self.rng.randint(100000, 999999)}"

    def account(self, i: int) -> dict:
        rng = self.rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        status = rng.choice(("Active", "Active", "Active", "Closed", "Debt"))
        if self._is_dirty():
            status = rng.choice(_BAD_STATUS)
        return {
            "Name": f"{first} {last}" if rng.random() < 0.7 else f"{last} & Co Ltd",
            "Phone": self._phone(first),
            "BillingStreet": f"{rng.randint(1, 250)} {rng.choice(_STREETS)}",
            "BillingCity": rng.choice(_CITIES),
            "BillingPostalCode": f"{rng.choice('BEGLMNS')}{rng.randint(1, 20)} "
            f"{rng.randint(1, 9)}{rng.choice('ABDEFGH')}{rng.choice('JLNPQRS')}",
            "BillingCountry": "United Kingdom",
            "Customer_Number__c": f"CUST-{i + 1:07d}",
            "Account_Status__c": status,
            "Tariff__c": rng.choice(_TARIFFS),
        }

    def contact(self, account_id: str, primary: bool) -> dict:
        rng = self.rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"{first}.{last}{rng.randint(1, 999)}@example.com".lower()
        if self._is_dirty():
            email = rng.choice(_BAD_EMAILS).format(f=first.lower(), l=last.lower())
        return {
            "AccountId": account_id,
            "FirstName": first,
            "LastName": None if self._is_dirty() else last,
            "Email": email,
            "Phone": self._phone(first),
            "Is_Primary__c": primary,
        }

    def case(self, account_id: str, contact_id: str | None) -> dict:
        rng = self.rng
        subject = rng.choice(_SUBJECTS)
        description = f"{subject}: customer called about their account. " * rng.randint(1, 4)
        if self._is_dirty():
            description = ("Transcript: " + "the customer explained the issue again. " * 120)[:4500]
        priority = rng.choice(("High", "Medium", "Low"))
        if self._is_dirty():
            priority = rng.choice(_BAD_PRIORITY)
        return {
            "AccountId": account_id,
            "ContactId": contact_id,
            "Subject": subject,
            "Description": description,
            "Status": rng.choice(("New", "Working", "Escalated", "Closed")),
            "Priority": priority,
            "Origin": rng.choice(("Phone", "Email", "Web")),
        }

    def meter(self, account_id: str) -> dict:
        rng = self.rng
        serial = f"{rng.choice('EGKLS')}{rng.randint(10, 99)}K{rng.randint(1000000, 9999999)}"
        return {
            "Name": f"Meter {serial}",
            "Account__c": account_id,
            "MPAN__c": "".join(str(rng.randint(0, 9)) for _ in range(13)),
            "Fuel_Type__c": rng.choice(("Electricity", "Gas")),
            "Serial_Number__c": serial,
        }

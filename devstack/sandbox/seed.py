"""Deterministic V1 customer generator, with dirty data at a configurable rate.

Why: the migration must meet the same messy records every run (same seed -> same ids and values),
so warnings and errors are exercised reproducibly: invalid emails, unparsable phones, missing last
names, over-long descriptions and unknown picklist values.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from .files import CHUNK, FileStore, insert_version
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
    tasks: int = 0
    emails: int = 0
    files: int = 0
    file_bytes: int = 0


@dataclass(frozen=True)
class SeedOptions:
    """What the seed adds to each customer beyond Account, Contacts, Cases and Meters. Every part
    draws from an RNG of its own, so the customers' own values and ids stay what they were."""

    #: share of customers that are a site of another customer (Account.ParentId); about a fifth
    #: of the sites are sites of a site (a chain of 2). Never a loop.
    site_rate: float = 0.05
    #: share of customers with 1-3 Tasks (on the Account or one of its Cases, some with a WhoId)
    task_rate: float = 0.6
    #: share of Cases with an e-mail thread (1-3 EmailMessages, HTML with the thread quoted)
    email_rate: float = 0.35

    #: share of customers with files (ContentVersion + ContentDocument, linked to the customer's
    #: Account and/or one of its Cases); each has files_per_customer (min, max) of them
    file_rate: float = 0.2
    files_per_customer: tuple[int, int] = (1, 3)
    #: size of a file in KB, log-uniform between (min, max): a few KB to a few MB
    file_kb: tuple[float, float] = (4.0, 4096.0)
    #: when set, the sizes are scaled so all files together weigh this many MB (a benchmark's
    #: "1,000 customers carrying 500 MB")
    files_total_mb: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.file_rate <= 1.0:
            raise ValueError("file_rate must be within [0, 1]")
        low, high = self.files_per_customer
        if not 0 <= low <= high:
            raise ValueError("files_per_customer must be (min, max) with 0 <= min <= max")
        if not 0 < self.file_kb[0] <= self.file_kb[1]:
            raise ValueError("file_kb must be (min, max) with 0 < min <= max")
        if self.files_total_mb is not None and self.files_total_mb < 0:
            raise ValueError("files_total_mb must be >= 0")
        if not 0.0 <= self.site_rate <= 0.5:
            raise ValueError("site_rate must be within [0, 0.5]")
        for name in ("task_rate", "email_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")


def seed_v1(
    store: Store,
    customers: int,
    seed: int,
    dirty_rate: float = 0.05,
    reference: ReferenceIds | None = None,
    options: SeedOptions | None = None,
    files: FileStore | None = None,
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
    extras = OwnerPicker(reference, f"{seed}-history") if reference is not None else None
    tasks, emails = _seed_activities(store, seed, opts, extras)
    n_files = n_bytes = 0
    if files is not None:
        n_files, n_bytes = _seed_files(store, files, seed, opts, extras)
    return SeedStats(
        customers, n_contacts, n_cases, n_meters, sites, tasks, emails, n_files, n_bytes
    )


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


_TASK_SUBJECTS = (
    "Call back about the bill",
    "Send a copy of the last statement",
    "Book a meter reading",
    "Confirm the payment plan",
    "Chase the smart meter appointment",
    "Follow up on the complaint",
    "Check the direct debit amount",
)
_TASK_NOTES = (
    "Customer asked for a call after 5pm.",
    "Left a voicemail, try again tomorrow.",
    "Waiting for the meter reading photo.",
    "Promised a written answer within 5 working days.",
    "Customer prefers e-mail to phone.",
)
_AGENTS = ("Alice Archer", "Ben Baker", "Chloe Carter", "Dev Desai", "Emma Ellis")
_SENTENCES = (
    "Thank you for getting in touch about your account.",
    "I have looked at the readings we hold for your meter and the estimate on your last bill.",
    "The estimate was based on the usage we saw at this time last year.",
    "If you can send us a photo of the meter showing today's reading, we will re-issue the bill.",
    "Your direct debit will stay the same until we have reviewed the account.",
    "We are sorry for the inconvenience this has caused.",
    "Please quote your customer number in any reply so we can find your account quickly.",
    "I attach a copy of the statement you asked for.",
    "The engineer visit is booked; you will get a text the day before.",
    "I still have not received a reply and the bill is due next week.",
    "Can you confirm the amount you will take this month?",
    "I moved in on the first of the month and the previous tenant's readings are on my bill.",
)
_STYLE = "margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex"


def _seed_activities(
    store: Store, seed: int, opts: SeedOptions, picker: OwnerPicker | None
) -> tuple[int, int]:
    """Tasks on customers' Accounts and Cases (WhatId), a contact of the customer as WhoId for
    some, and e-mail threads on Cases: HTML bodies (a few KB) quoting the earlier messages, with
    a plain-text twin. From RNGs of their own; created after their Account / Case."""
    rng = random.Random(f"activities-{seed}")
    accounts = store.table("Account").rows
    n_tasks = n_emails = 0
    for account_id, account in list(accounts.items()):
        contacts = list(store.children("Contact", "AccountId", account_id))
        cases = list(store.children("Case", "AccountId", account_id))
        created = _parse(account["CreatedDate"])
        if rng.random() < opts.task_rate:
            for k in range(rng.randint(1, 3)):
                on_case = cases and rng.random() < 0.4
                what = rng.choice(cases) if on_case else account_id
                task = {
                    "Subject": rng.choice(_TASK_SUBJECTS),
                    "Status": rng.choice(("Not Started", "In Progress", "Completed", "Completed")),
                    "Priority": rng.choice(("High", "Normal", "Normal", "Low")),
                    "ActivityDate": (created + timedelta(days=rng.randint(1, 60)))
                    .date()
                    .isoformat(),
                    "Description": rng.choice(_TASK_NOTES),
                    "WhatId": what,
                    "WhoId": rng.choice(contacts) if contacts and rng.random() < 0.5 else None,
                }
                _insert_owned(store, "Task", task, created + timedelta(hours=k + 2), picker)
                n_tasks += 1
        for case_id in cases:
            if rng.random() >= opts.email_rate:
                continue
            case = store.get("Case", case_id) or {}
            contact = store.get("Contact", case.get("ContactId") or "") or {}
            n_emails += _seed_thread(store, rng, case_id, case, contact, account)
    return n_tasks, n_emails


def _seed_thread(
    store: Store, rng: random.Random, case_id: str, case: dict, contact: dict, account: dict
) -> int:
    """One Case's e-mail thread: 1-3 messages, alternating customer and agent, each quoting the
    thread so far (HtmlBody in a blockquote, TextBody with "> " lines)."""
    customer = " ".join(p for p in (contact.get("FirstName"), contact.get("LastName")) if p)
    customer = customer or account["Name"]
    customer_address = contact.get("Email") or "customer@example.com"
    if "@" not in customer_address or " " in customer_address:
        customer_address = "customer@example.com"  # the legacy org's dirty e-mails stay on Contact
    agent = rng.choice(_AGENTS)
    agent_address = "service@energy.example"
    subject = f"{case.get('Subject') or 'Your account'} [{account.get('Customer_Number__c')}]"
    when = _parse(case["CreatedDate"])
    inner = text = ""  # the thread so far (HTML without its html/body wrapper, plain text)
    previous = ""  # "On <date>, <sender> wrote:" of the message quoted next
    n = rng.randint(1, 3)
    for k in range(n):
        incoming = k % 2 == 0
        when = when + timedelta(minutes=rng.randint(20, 3 * 24 * 60))
        sender, to = (customer, agent) if incoming else (agent, customer)
        from_address, to_address = (
            (customer_address, agent_address) if incoming else (agent_address, customer_address)
        )
        paragraphs = [" ".join(rng.sample(_SENTENCES, 3)) for _ in range(rng.randint(3, 6))]
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        quote = (
            f'<div class="gmail_quote"><div>{previous}</div>'
            f'<blockquote style="{_STYLE}">{inner}</blockquote></div>'
            if inner
            else ""
        )
        inner = f"<div>Dear {to},</div>{body}<p>Kind regards,<br>{sender}</p>{quote}"
        plain = f"Dear {to},\n\n" + "\n\n".join(paragraphs) + f"\n\nKind regards,\n{sender}\n"
        if text:
            said = previous.replace("&lt;", "<").replace("&gt;", ">")
            plain += f"\n{said}\n" + "\n".join(f"> {line}" for line in text.splitlines())
        text = plain
        previous = (
            f"On {when.strftime('%a %d %b %Y at %H:%M')}, {sender} &lt;{from_address}&gt; wrote:"
        )
        message = {
            "ParentId": case_id,
            "Subject": subject if k == 0 else f"RE: {subject}",
            "HtmlBody": f"<html><body>{inner}</body></html>",
            "TextBody": text,
            "FromAddress": from_address,
            "FromName": sender,
            "ToAddress": to_address,
            "MessageDate": _sf(when),
            "Incoming": incoming,
            # 3 Sent (the agent's), 2 Replied (answered customer mail), 0 New (the last, open)
            "Status": ("0" if k == n - 1 else "2") if incoming else "3",
        }
        store.insert("EmailMessage", message, created=_sf(when))
    return n


def _insert_owned(
    store: Store, sobject: str, values: dict, created: datetime, picker: OwnerPicker | None
) -> str:
    if picker is not None:
        values["OwnerId"] = picker.owner()
    return store.insert(sobject, values, created=_sf(created), user=values.get("OwnerId"))


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")


def _sf(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


#: (title, extension, header) of the seeded kinds of file: bills and letters (PDF), meter
#: photos (JPEG) and signed contracts (DOCX, a ZIP); the rest of a file is PRNG bytes
_FILE_KINDS = (
    (
        "Bill {month} {number}",
        "pdf",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Title ({title}) >>\n",
    ),
    (
        "Letter - {subject}",
        "pdf",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Title ({title}) >>\n",
    ),
    ("Meter photo {number}", "jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01"),
    ("Signed contract {number}", "docx", b"PK\x03\x04\x14\x00\x06\x00\x08\x00"),
)
_TRAILERS = {"pdf": b"\n%%EOF\n", "jpg": b"\xff\xd9", "docx": b""}


@dataclass(frozen=True)
class _PlannedFile:
    index: int
    account_id: str
    kind: int
    size: int
    publish_on: str
    also_link: str | None
    created: datetime


def _seed_files(
    store: Store, files: FileStore, seed: int, opts: SeedOptions, picker: OwnerPicker | None
) -> tuple[int, int]:
    """Files of `file_rate` of the customers: planned first (who, what kind, how big, linked
    where), scaled to `files_total_mb` if set, then written one at a time from a seeded PRNG
    (deterministic, never a whole file in memory), each a ContentVersion published on the
    Account or a Case (FirstPublishLocationId), some also linked to the other."""
    rng = random.Random(f"files-{seed}")
    low, high = (math.log(kb * 1024) for kb in opts.file_kb)
    plan: list[_PlannedFile] = []
    for account_id, account in store.table("Account").rows.items():
        if rng.random() >= opts.file_rate:
            continue
        cases = list(store.children("Case", "AccountId", account_id))
        created = _parse(account["CreatedDate"])
        for _ in range(rng.randint(*opts.files_per_customer)):
            on_case = bool(cases) and rng.random() < 0.4
            case = rng.choice(cases) if cases else None
            publish_on = case if on_case and case else account_id
            also = rng.random() < (0.5 if on_case else 0.2)
            plan.append(
                _PlannedFile(
                    len(plan),
                    account_id,
                    rng.randrange(len(_FILE_KINDS)),
                    max(1, int(math.exp(rng.uniform(low, high)))),
                    publish_on,
                    (account_id if on_case else case) if also else None,
                    created + timedelta(days=rng.randint(1, 400), minutes=rng.randint(0, 1439)),
                )
            )
    if opts.files_total_mb is not None and plan:
        plan = _scaled(plan, int(opts.files_total_mb * 1024 * 1024))
    total = 0
    for item in plan:
        total += item.size
        _seed_file(store, files, seed, item, picker)
    return len(plan), total


def _scaled(plan: list[_PlannedFile], total: int) -> list[_PlannedFile]:
    weight = sum(p.size for p in plan)
    sizes = [max(1, p.size * total // weight) for p in plan]
    sizes[-1] = max(1, sizes[-1] + total - sum(sizes))
    return [replace(p, size=size) for p, size in zip(plan, sizes, strict=True)]


def _seed_file(
    store: Store, files: FileStore, seed: int, item: _PlannedFile, picker: OwnerPicker | None
) -> str:
    account = store.get("Account", item.account_id) or {}
    title_fmt, ext, header = _FILE_KINDS[item.kind]
    title = title_fmt.format(
        month=item.created.strftime("%Y-%m"),
        number=account.get("Customer_Number__c") or item.account_id,
        subject=random.Random(f"title-{seed}-{item.index}").choice(_SUBJECTS).lower(),
    )
    head = header.replace(b"{title}", title.encode())
    rng = random.Random(f"file-{seed}-{item.index}")
    blob = files.write_chunks(_file_bytes(rng, item.size, head, _TRAILERS[ext]))
    values = {
        "Title": title,
        "PathOnClient": f"{title}.{ext}",
        "VersionData": blob,
        "FirstPublishLocationId": item.publish_on,
    }
    if picker is not None:
        values["OwnerId"] = picker.owner()
    stamp = _sf(item.created)
    user = values.get("OwnerId")
    rid = insert_version(store, files, values, created=stamp, user=user)
    if item.also_link:
        document = (store.get("ContentVersion", rid) or {})["ContentDocumentId"]
        link = {"ContentDocumentId": document, "LinkedEntityId": item.also_link}
        store.insert(
            "ContentDocumentLink",
            {**link, "ShareType": "V", "Visibility": "AllUsers"},
            created=stamp,
            user=user,
        )
    return rid


def _file_bytes(rng: random.Random, size: int, head: bytes, tail: bytes) -> Iterator[bytes]:
    """`size` bytes: the kind's header, PRNG bytes in chunks, the kind's trailer."""
    body = size - len(head) - len(tail)
    if body < 0:
        yield (head + tail)[:size]
        return
    yield head
    while body > 0:
        n = min(4 * CHUNK, body)
        yield rng.randbytes(n)
        body -= n
    yield tail

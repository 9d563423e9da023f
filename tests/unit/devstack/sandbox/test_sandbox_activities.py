"""Task (polymorphic WhatId / WhoId) and EmailMessage (ParentId on Case) in both orgs: describe,
the allowed target types per field, writes through the target's external id with its type named
(single, upsert, collections, graph), SOQL What.Type, deletes, and the seeded threads."""

from __future__ import annotations

import pytest

from devstack.sandbox.api import Org
from devstack.sandbox.config import SandboxConfig
from devstack.sandbox.ids import IdFactory
from devstack.sandbox.schema import v1_schema
from devstack.sandbox.seed import SeedOptions, seed_v1
from devstack.sandbox.store import Store
from tests.unit.devstack.sandbox.test_sandbox_hierarchy import call

V = "/services/data/v59.0"


@pytest.fixture
def v2() -> Org:
    org = Org(SandboxConfig(org="v2"))
    call(org, "POST", "sobjects/Account", {"Name": "Acme", "Legacy_Id__c": "001A"})
    call(
        org,
        "POST",
        "sobjects/Contact",
        {"LastName": "Smith", "Legacy_Id__c": "003A", "Account": {"Legacy_Id__c": "001A"}},
    )
    call(
        org,
        "POST",
        "sobjects/Case",
        {"Subject": "Bill", "Legacy_Id__c": "500A", "Account": {"Legacy_Id__c": "001A"}},
    )
    return org


def _id(org: Org, sobject: str, key: str) -> str:
    return org.store.find_by(sobject, "Legacy_Id__c", key)[0]


def test_describe_polymorphic_fields() -> None:
    for org in ("v1", "v2"):
        schema = Org(SandboxConfig(org=org)).schema
        task = {f["name"]: f for f in schema.objects["Task"].describe()["fields"]}
        meters = ["Meter__c"] if org == "v1" else []
        assert task["WhatId"]["referenceTo"] == ["Account", "Case", *meters]
        assert task["WhatId"]["relationshipName"] == "What"
        assert task["WhatId"]["polymorphicForeignKey"] is True
        assert task["WhoId"]["referenceTo"] == ["Contact"]
        assert task["ActivityDate"]["type"] == "date"
        assert task["Status"]["picklistValues"][0]["value"] == "Not Started"
        email = {f["name"]: f for f in schema.objects["EmailMessage"].describe()["fields"]}
        assert email["ParentId"]["referenceTo"] == ["Case"]
        assert email["HtmlBody"]["length"] == 131072
        assert [v["value"] for v in email["Status"]["picklistValues"]] == list("012345")
        assert ("Legacy_Id__c" in task) == (org == "v2") == ("Legacy_Id__c" in email)
        assert "OwnerId" in task and "OwnerId" not in email
        for parent, rel in (("Account", "Tasks"), ("Case", "Tasks"), ("Contact", "Tasks")):
            assert schema.objects[parent].child(rel) is not None
        assert schema.objects["Case"].child("EmailMessages").cascade_delete


def test_task_by_ids_defaults_and_disallowed_types(v2: Org) -> None:
    account, contact, case = (
        _id(v2, "Account", "001A"),
        _id(v2, "Contact", "003A"),
        _id(v2, "Case", "500A"),
    )
    status, body = call(
        v2, "POST", "sobjects/Task", {"Subject": "Call", "WhatId": case, "WhoId": contact}
    )
    assert status == 201, body
    row = v2.store.get("Task", body["id"])
    assert (row["Status"], row["Priority"], row["OwnerId"]) == ("Not Started", "Normal", v2.user_id)
    status, body = call(v2, "POST", "sobjects/Task", {"Subject": "x", "WhatId": contact})
    assert status == 400
    assert body == [
        {
            "message": f"Related To ID: id value of incorrect type: {contact}",
            "errorCode": "FIELD_INTEGRITY_EXCEPTION",
            "fields": ["WhatId"],
        }
    ]
    status, body = call(v2, "POST", "sobjects/Task", {"Subject": "x", "WhoId": account})
    assert body[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert body[0]["message"] == f"Name ID: id value of incorrect type: {account}"
    status, body = call(v2, "POST", "sobjects/Task", {"Subject": "x", "ActivityDate": "2024-13-01"})
    assert body[0]["errorCode"] == "JSON_PARSER_ERROR"
    status, body = call(v2, "POST", "sobjects/Task", {"Subject": "x", "Status": "Deferred"})
    assert body[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_task_through_external_ids_with_type_on_every_write_path(v2: Org) -> None:
    what_case = {"attributes": {"type": "Case"}, "Legacy_Id__c": "500A"}
    who = {"attributes": {"type": "Contact"}, "Legacy_Id__c": "003A"}
    status, body = call(
        v2, "POST", "sobjects/Task", {"Subject": "a", "What": what_case, "Who": who}
    )
    assert status == 201, body
    assert v2.store.get("Task", body["id"])["WhatId"] == _id(v2, "Case", "500A")
    what_account = {"attributes": {"type": "Account"}, "Legacy_Id__c": "001A"}
    status, body = call(
        v2, "PATCH", "sobjects/Task/Legacy_Id__c/00TB", {"Subject": "b", "What": what_account}
    )
    assert status == 201, body
    status, body = call(
        v2,
        "PATCH",
        "composite/sobjects/Task/Legacy_Id__c",
        {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Task"}, "Legacy_Id__c": "00TC", "What": what_case},
                {"attributes": {"type": "Task"}, "Legacy_Id__c": "00TD", "What": who},
                {
                    "attributes": {"type": "Task"},
                    "Legacy_Id__c": "00TE",
                    "What": {"Legacy_Id__c": "x"},
                },
            ],
        },
    )
    assert [r["success"] for r in body] == [True, False, False]
    assert body[1]["errors"][0]["statusCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert body[2]["errors"][0]["statusCode"] == "INVALID_FIELD"
    graph = {
        "graphs": [
            {
                "graphId": "g",
                "compositeRequest": [
                    {
                        "method": "PATCH",
                        "url": f"{V}/sobjects/Task/Legacy_Id__c/00TF",
                        "referenceId": "t",
                        "body": {"Subject": "f", "What": what_case, "Who": who},
                    }
                ],
            }
        ]
    }
    status, body = call(v2, "POST", "composite/graph", graph)
    assert body["graphs"][0]["isSuccessful"], body


def test_soql_what_type_and_child_tasks(v2: Org) -> None:
    case = _id(v2, "Case", "500A")
    call(v2, "POST", "sobjects/Task", {"Subject": "on case", "WhatId": case})
    call(
        v2, "POST", "sobjects/Task", {"Subject": "on account", "WhatId": _id(v2, "Account", "001A")}
    )
    status, body = call(
        v2,
        "GET",
        "query",
        q="SELECT Subject, WhatId, What.Type, What.Name, Who.Name FROM Task "
        "WHERE What.Type = 'Case' ORDER BY Subject",
    )
    assert status == 200, body
    [rec] = body["records"]
    assert rec["What"] == {
        "attributes": {"type": "Name", "url": f"{V}/sobjects/Case/{case}"},
        "Type": "Case",
        "Name": None,
    }
    assert rec["Who"] is None
    status, body = call(
        v2, "GET", "query", q="SELECT Name, (SELECT Subject FROM Tasks) FROM Account"
    )
    assert body["records"][0]["Tasks"]["records"][0]["Subject"] == "on account"


def test_email_message_on_case_and_cascades(v2: Org) -> None:
    case = _id(v2, "Case", "500A")
    status, body = call(
        v2,
        "POST",
        "sobjects/EmailMessage",
        {
            "Parent": {"Legacy_Id__c": "500A"},
            "Subject": "Hello",
            "HtmlBody": "<p>Hi</p>",
            "Status": "3",
            "MessageDate": "2024-01-02T03:04:05Z",
            "Legacy_Id__c": "02sA",
        },
    )
    assert status == 201, body
    status, bad = call(v2, "POST", "sobjects/EmailMessage", {"ParentId": case, "Status": "9"})
    assert bad[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    status, bad = call(v2, "POST", "sobjects/EmailMessage", {"ParentId": case})
    assert bad[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    call(v2, "POST", "sobjects/Task", {"Subject": "t", "WhatId": case})
    assert call(v2, "DELETE", f"sobjects/Case/{case}")[0] == 204
    assert v2.store.counts()["EmailMessage"] == 0 and v2.store.counts()["Task"] == 0
    status, body = call(v2, "GET", "queryAll", q="SELECT Id, IsDeleted FROM EmailMessage")
    assert body["records"][0]["IsDeleted"] is True


def test_seeded_tasks_and_threads() -> None:
    store = Store(v1_schema(), IdFactory("1S"))
    stats = seed_v1(store, 300, 4, options=SeedOptions())
    tasks = list(store.table("Task").rows.values())
    assert stats.tasks == len(tasks) > 100
    kinds = {t["WhatId"][:3] for t in tasks}
    assert kinds == {"001", "500"}
    with_who = [t for t in tasks if t["WhoId"]]
    assert 0.3 < len(with_who) / len(tasks) < 0.7
    for t in with_who:  # the contact is the customer's
        contact = store.get("Contact", t["WhoId"])
        what = t["WhatId"]
        account = what if what.startswith("001") else store.get("Case", what)["AccountId"]
        assert contact["AccountId"] == account
    emails = list(store.table("EmailMessage").rows.values())
    assert stats.emails == len(emails) > 100
    replies = [e for e in emails if e["Subject"].startswith("RE: ")]
    assert replies and all("<blockquote" in e["HtmlBody"] for e in replies)
    assert max(len(e["HtmlBody"]) for e in emails) > 3000
    assert {e["Status"] for e in emails} <= set("0123")
    none = Store(v1_schema(), IdFactory("1S"))
    seed_v1(none, 50, 4, options=SeedOptions(task_rate=0, email_rate=0))
    assert none.counts()["Task"] == none.counts()["EmailMessage"] == 0


def test_a_v1_task_on_a_meter_has_no_allowed_type_in_v2(v2: Org) -> None:
    v1 = Org(SandboxConfig(org="v1"))
    account = call(v1, "POST", "sobjects/Account", {"Name": "Acme"})[1]["id"]
    meter = call(v1, "POST", "sobjects/Meter__c", {"Name": "M", "Account__c": account})[1]["id"]
    status, body = call(v1, "POST", "sobjects/Task", {"Subject": "read it", "WhatId": meter})
    assert status == 201, body
    call(
        v2,
        "POST",
        "sobjects/Meter_Point__c",
        {"MPAN__c": "1", "Legacy_Id__c": "a0BA", "Account__r": {"Legacy_Id__c": "001A"}},
    )
    what = {"attributes": {"type": "Meter_Point__c"}, "Legacy_Id__c": "a0BA"}
    status, body = call(v2, "PATCH", "sobjects/Task/Legacy_Id__c/00TM", {"What": what})
    assert status == 400 and body[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert body[0]["message"].startswith("Related To ID: id value of incorrect type: a0B")

"""Composite Graph limits, record faults, duplicate rules, setup-object queries and per-record
latency of the sandbox (issue 13, items 3 and 4), through simple-salesforce against in-process
orgs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import count
from urllib.parse import quote

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from devstack.sandbox import SandboxConfig, SandboxThread
from devstack.sandbox.faults import would_fail
from tests.integration.sandbox.support import admin, login

pytestmark = pytest.mark.integration

BASE = "/services/data/v59.0"
SEED = 11
RATE = 0.3
CODE = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
ALLOW_SAVE = {"Sforce-Duplicate-Rule-Header": "allowSave=true"}


@pytest.fixture
def v2_faulty() -> Iterator[SandboxThread]:
    """V2 with 30 % of Contacts failing a custom validation on Email."""
    config = SandboxConfig(
        org="v2", port=0, seed=SEED, fail_records=(f"Contact={RATE}:{CODE}:Email",)
    )
    with SandboxThread(config) as sb:
        yield sb


@pytest.fixture
def v2_dupes() -> Iterator[SandboxThread]:
    """V2 with a duplicate rule on Contact.Email."""
    with SandboxThread(SandboxConfig(org="v2", port=0, duplicate_rules=("Contact.Email",))) as sb:
        yield sb


def _node(ref: str, method: str, url: str, body: dict | None = None) -> dict:
    node = {"referenceId": ref, "method": method, "url": url}
    if body is not None:
        node["body"] = body
    return node


def _graph(gid: str, *nodes: dict) -> dict:
    return {"graphId": gid, "compositeRequest": list(nodes)}


def _account_graph(gid: str, ok: bool) -> dict:
    """An Account then a Contact under it; the Contact misses LastName when not ok."""
    contact = {"AccountId": "@{acc.id}", **({"LastName": "L"} if ok else {})}
    return _graph(
        gid,
        _node("acc", "POST", f"{BASE}/sobjects/Account", {"Name": f"A-{gid}"}),
        _node("con", "POST", f"{BASE}/sobjects/Contact", contact),
    )


def _post_graph(sf: Salesforce, graphs: list[dict], headers: dict | None = None) -> list[dict]:
    body = {"graphs": graphs}
    return sf.restful("composite/graph", method="POST", json=body, headers=headers or {})["graphs"]


def _codes(node: dict) -> list[str]:
    return [e["errorCode"] for e in node["body"]]


# -- Composite Graph ---------------------------------------------------------------------------
def test_graph_allows_15_different_nodes_and_refuses_16(sf2: Salesforce, v2: SandboxThread) -> None:
    versions = [f"{v}.0" for v in range(50, 66)]  # 16 versions: 16 different node types

    def graphs(n: int) -> list[dict]:
        return [
            _graph(
                f"g{i}",
                _node("a", "POST", f"/services/data/v{ver}/sobjects/Account", {"Name": f"N{i}"}),
            )
            for i, ver in enumerate(versions[:n])
        ]

    assert all(g["isSuccessful"] for g in _post_graph(sf2, graphs(15)))
    with pytest.raises(SalesforceMalformedRequest) as err:
        _post_graph(sf2, graphs(16))
    assert err.value.status == 400
    assert err.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert "15 different nodes" in err.value.content[0]["message"]
    assert admin(v2, "GET", "counts")["Account"] == 15  # the refused request wrote nothing

    # the HTTP method makes nodes different too (current REST API Developer Guide)
    mixed = [
        _graph(f"m{i}", _node("a", method, f"/services/data/v{ver}/sobjects/Account/x"))
        for i, (ver, method) in enumerate(
            (ver, method) for ver in versions[:8] for method in ("GET", "DELETE")
        )
    ]
    with pytest.raises(SalesforceMalformedRequest):
        _post_graph(sf2, mixed)


def test_graph_node_limit_is_per_payload_not_per_graph(sf2: Salesforce) -> None:
    def graph(gid: str, n: int) -> dict:
        nodes = [
            _node(f"a{i}", "POST", f"{BASE}/sobjects/Account", {"Name": f"{gid}{i}"})
            for i in range(n)
        ]
        return _graph(gid, *nodes)

    with pytest.raises(SalesforceMalformedRequest) as err:
        _post_graph(sf2, [graph("g1", 250), graph("g2", 251)])  # each graph alone is fine
    assert err.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert len(_post_graph(sf2, [graph("g1", 250), graph("g2", 250)])) == 2


def test_after_14_failed_graphs_the_remaining_graphs_are_halted(
    sf2: Salesforce, v2: SandboxThread
) -> None:
    plan = [False] * 13 + [True, False] + [True] * 3  # the 14th failure is graph 14
    res = _post_graph(sf2, [_account_graph(f"g{i}", ok) for i, ok in enumerate(plan)])
    assert [g["graphId"] for g in res] == [f"g{i}" for i in range(len(plan))]
    assert [g["isSuccessful"] for g in res] == [False] * 13 + [True, False] + [False] * 3

    for g in [*res[:13], res[14]]:  # failed: the real error on its node, the others halted
        acc, con = g["graphResponse"]["compositeResponse"]
        assert _codes(con) == ["REQUIRED_FIELD_MISSING"]
        assert _codes(acc) == ["PROCESSING_HALTED"]
        assert "not processed" not in acc["body"][0]["message"]

    for g in res[15:]:  # halted: never processed, every node PROCESSING_HALTED
        nodes = g["graphResponse"]["compositeResponse"]
        assert [n["referenceId"] for n in nodes] == ["acc", "con"]
        assert all(_codes(n) == ["PROCESSING_HALTED"] for n in nodes)
        assert all("not processed" in n["body"][0]["message"] for n in nodes)

    assert admin(v2, "GET", "counts")["Account"] == 1  # graph 13 only
    assert admin(v2, "GET", "counts")["Contact"] == 1


def test_a_graph_request_is_one_api_call(sf2: Salesforce, v2: SandboxThread) -> None:
    sf2.restful("limits")
    before = sf2.api_usage["api-usage"].used
    admin(v2, "POST", "stats/reset")
    res = _post_graph(sf2, [_account_graph(f"g{i}", ok=i != 1) for i in range(5)])
    assert [g["isSuccessful"] for g in res] == [True, False, True, True, True]
    assert sf2.api_usage["api-usage"].used == before + 1
    stats = admin(v2, "GET", "stats")
    assert stats["total"] == 1 and stats["by_endpoint"] == {"composite_graph": 1}


def test_upserts_answer_201_created_then_200_updated(sf2: Salesforce) -> None:
    url = f"{BASE}/sobjects/Account/Legacy_Id__c/001G"

    def upsert(name: str) -> dict:
        graph = _graph("g", _node("a", "PATCH", url, {"Name": name}))
        return _post_graph(sf2, [graph])[0]["graphResponse"]["compositeResponse"][0]

    first = upsert("One")
    assert first["httpStatusCode"] == 201
    rid = first["body"]["id"]
    assert first["body"] == {"id": rid, "success": True, "created": True, "errors": []}
    second = upsert("Two")
    assert second["httpStatusCode"] == 200
    assert second["body"] == {"id": rid, "success": True, "created": False, "errors": []}

    # the single-record upsert answers the same (API 46.0 and later)
    resp = sf2.Account.upsert("Legacy_Id__c/001S", {"Name": "S"}, raw_response=True)
    sid = resp.json()["id"]
    assert (resp.status_code, resp.json()) == (
        201,
        {"id": sid, "success": True, "created": True, "errors": []},
    )
    resp = sf2.Account.upsert("Legacy_Id__c/001S", {"Name": "T"}, raw_response=True)
    assert (resp.status_code, resp.json()) == (
        200,
        {"id": sid, "success": True, "created": False, "errors": []},
    )


# -- record faults -----------------------------------------------------------------------------
def _keys(fail: int, ok: int, numbers: count) -> tuple[list[str], list[str]]:
    """`fail` Contact external ids that the fault fails and `ok` ones it passes."""
    failing: list[str] = []
    passing: list[str] = []
    while len(failing) < fail or len(passing) < ok:
        key = f"003C{next(numbers):04d}"
        bucket = failing if would_fail("Contact", key, RATE, SEED) else passing
        if len(bucket) < (fail if bucket is failing else ok):
            bucket.append(key)
    return failing, passing


def _contact(key: str, **extra: object) -> dict:
    return {"LastName": f"L{key}", "Email": f"{key}@example.com", **extra}


def test_would_fail_is_a_pure_stable_prediction() -> None:
    keys = [f"003C{i:04d}" for i in range(2000)]
    share = sum(would_fail("Contact", k, 0.1, 42) for k in keys) / len(keys)
    assert 0.07 < share < 0.13
    assert [would_fail("Contact", k, 0.1, 42) for k in keys] == [
        would_fail("contact", k, 0.1, 42) for k in keys
    ]
    assert [would_fail("Contact", k, 0.1, 42) for k in keys] != [
        would_fail("Contact", k, 0.1, 43) for k in keys
    ]
    assert not any(would_fail("Contact", k, 0.0, 42) for k in keys)
    assert all(would_fail("Contact", k, 1.0, 42) for k in keys)


def _fault_error(errors: list[dict], key: str = "statusCode") -> dict:
    assert len(errors) == 1
    err = errors[0]
    assert err[key] == CODE and err["fields"] == ["Email"] and err["message"]
    return err


def test_record_faults_fail_the_predicted_records_on_every_write_path(
    v2_faulty: SandboxThread,
) -> None:
    sf = login(v2_faulty)
    numbers = count()

    # sObject Collections upsert (allOrNone false): per-record results
    failing, passing = _keys(3, 3, numbers)
    keys = failing + passing
    records = [{"attributes": {"type": "Contact"}, "Legacy_Id__c": k, **_contact(k)} for k in keys]
    res = sf.restful(
        "composite/sobjects/Contact/Legacy_Id__c", method="PATCH", json={"records": records}
    )
    assert [r["success"] for r in res] == [k in passing for k in keys]
    for r in res[:3]:
        _fault_error(r["errors"])

    # single-record upsert and insert
    failing, passing = _keys(2, 2, numbers)
    for key in failing:
        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.Contact.upsert(f"Legacy_Id__c/{key}", _contact(key))
        _fault_error(err.value.content, "errorCode")
    for key in passing:
        assert sf.Contact.upsert(f"Legacy_Id__c/{key}", _contact(key)) == 201
    failing, passing = _keys(2, 2, numbers)
    for key in failing:
        with pytest.raises(SalesforceMalformedRequest):
            sf.Contact.create(_contact(key, Legacy_Id__c=key))
    for key in passing:
        assert sf.Contact.create(_contact(key, Legacy_Id__c=key))["success"]

    # composite (allOrNone false): per-subrequest status
    failing, passing = _keys(2, 2, numbers)
    keys = failing + passing
    subs = [_node(k, "POST", f"{BASE}/sobjects/Contact", _contact(k, Legacy_Id__c=k)) for k in keys]
    res = sf.restful("composite", method="POST", json={"compositeRequest": subs})
    assert [r["httpStatusCode"] for r in res["compositeResponse"]] == [400, 400, 201, 201]
    _fault_error(res["compositeResponse"][0]["body"], "errorCode")

    # composite graph nodes: the failing customer's graph fails, the others succeed
    failing, passing = _keys(2, 2, numbers)
    keys = failing + passing
    graphs = [
        _graph(
            k,
            _node("acc", "POST", f"{BASE}/sobjects/Account", {"Name": k}),
            _node(
                "con",
                "PATCH",
                f"{BASE}/sobjects/Contact/Legacy_Id__c/{k}",
                _contact(k, AccountId="@{acc.id}"),
            ),
        )
        for k in keys
    ]
    res = _post_graph(sf, graphs)
    assert [g["isSuccessful"] for g in res] == [False, False, True, True]
    con = res[0]["graphResponse"]["compositeResponse"][1]
    _fault_error(con["body"], "errorCode")

    # updates: by Id (single and Collections) are keyed by the record's Legacy_Id__c
    admin(v2_faulty, "POST", "faults/records", {})
    failing, passing = _keys(2, 1, numbers)
    ids = {k: sf.Contact.create(_contact(k, Legacy_Id__c=k))["id"] for k in failing + passing}
    admin(
        v2_faulty,
        "POST",
        "faults/records",
        {"Contact": {"rate": RATE, "code": CODE, "field": "Email"}},
    )
    with pytest.raises(SalesforceMalformedRequest):
        sf.Contact.update(ids[failing[0]], {"FirstName": "F"})
    assert sf.Contact.update(ids[passing[0]], {"FirstName": "F"}) == 204
    res = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Contact"}, "Id": ids[k], "FirstName": "G"}
                for k in (failing[1], passing[0])
            ]
        },
    )
    assert [r["success"] for r in res] == [False, True]


def test_record_faults_are_set_and_cleared_at_run_time(sf2: Salesforce, v2: SandboxThread) -> None:
    numbers = count()
    failing, passing = _keys(3, 2, numbers)
    keys = failing + passing
    records = [{"attributes": {"type": "Contact"}, "Legacy_Id__c": k, **_contact(k)} for k in keys]

    def upsert() -> list[bool]:
        res = sf2.restful(
            "composite/sobjects/Contact/Legacy_Id__c", method="PATCH", json={"records": records}
        )
        return [r["success"] for r in res]

    seed = v2.state.org.config.seed
    spec = {"Contact": {"rate": RATE, "code": CODE, "field": "Email"}}
    got = admin(v2, "POST", "faults/records", spec)
    assert got == {"seed": seed, "faults": spec}
    expected = [not would_fail("Contact", k, RATE, seed) for k in keys]
    assert upsert() == expected
    assert admin(v2, "GET", "faults/records")["faults"] == spec

    assert admin(v2, "POST", "faults/records", {}) == {"seed": seed, "faults": {}}
    assert upsert() == [True] * len(keys)  # cleared: the same run now succeeds

    for bad in ({"Nope__c": {"rate": 0.1}}, {"Contact": {"rate": 2}}, {"Contact": {"field": "X"}}):
        resp = requests.post(f"{v2.url}/__admin/faults/records", json=bad, timeout=5)
        assert resp.status_code == 400
    assert admin(v2, "GET", "faults/records")["faults"] == {}


# -- duplicate rules ---------------------------------------------------------------------------
def test_duplicate_rule_refuses_a_second_record_unless_allow_save(v2_dupes: SandboxThread) -> None:
    sf = login(v2_dupes)
    first = sf.Contact.create({"LastName": "A", "Email": "dup@example.com"})["id"]

    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.create({"LastName": "B", "Email": "DUP@example.com"})
    error = err.value.content[0]
    assert error["errorCode"] == "DUPLICATES_DETECTED"
    result = error["duplicateResult"]
    assert result["duplicateRuleEntityType"] == "Contact"
    match = result["matchResults"][0]
    assert [m["record"]["Id"] for m in match["matchRecords"]] == [first]

    assert sf.Contact.create({"LastName": "B", "Email": "Dup@example.com"}, headers=ALLOW_SAVE)
    other = sf.Contact.create({"LastName": "C", "Email": "other@example.com"})["id"]
    with pytest.raises(SalesforceMalformedRequest):  # an edit into a duplicate is refused too
        sf.Contact.update(other, {"Email": "dup@EXAMPLE.com"})
    assert sf.Contact.update(other, {"LastName": "C2"}) == 204  # unchanged value: no duplicate

    # Collections: per record, and the header applies to all records of the request
    records = [
        {"attributes": {"type": "Contact"}, "Legacy_Id__c": f"003D{i}", "LastName": "D", **e}
        for i, e in enumerate(({"Email": "dup@example.com"}, {"Email": "new@example.com"}))
    ]
    url = "composite/sobjects/Contact/Legacy_Id__c"
    res = sf.restful(url, method="PATCH", json={"records": records})
    assert [r["success"] for r in res] == [False, True]
    assert res[0]["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"
    assert "duplicateResult" in res[0]["errors"][0]
    res = sf.restful(url, method="PATCH", json={"records": records}, headers=ALLOW_SAVE)
    assert [r["success"] for r in res] == [True, True]

    # composite graph: without the header the graph fails, with it every node saves
    def graph(gid: str) -> dict:
        return _graph(
            gid,
            _node(
                "c",
                "PATCH",
                f"{BASE}/sobjects/Contact/Legacy_Id__c/{gid}",
                {"LastName": "G", "Email": "dup@example.com"},
            ),
        )

    res = _post_graph(sf, [graph("003G1")])
    assert not res[0]["isSuccessful"]
    assert _codes(res[0]["graphResponse"]["compositeResponse"][0]) == ["DUPLICATES_DETECTED"]
    res = _post_graph(sf, [graph("003G1"), graph("003G2")], headers=ALLOW_SAVE)
    assert [g["isSuccessful"] for g in res] == [True, True]


def test_no_duplicate_rule_by_default(sf2: Salesforce) -> None:
    for name in ("A", "B"):
        sf2.Contact.create({"LastName": name, "Email": "same@example.com"})
    rules = sf2.query("SELECT DeveloperName, SobjectType, IsActive FROM DuplicateRule")
    assert rules["totalSize"] == 0 and rules["records"] == []


# -- setup objects -----------------------------------------------------------------------------
def test_duplicate_and_validation_rules_are_queryable() -> None:
    config = SandboxConfig(
        org="v2",
        port=0,
        duplicate_rules=("Contact.Email",),
        fail_records=(f"Contact={RATE}:{CODE}:Email", "Account=0.5:UNABLE_TO_LOCK_ROW"),
    )
    with SandboxThread(config) as sb:
        sf = login(sb)
        rules = sf.query("SELECT DeveloperName, SobjectType, IsActive FROM DuplicateRule")
        assert rules["totalSize"] == 1
        rule = rules["records"][0]
        assert rule["attributes"]["type"] == "DuplicateRule"
        assert (rule["SobjectType"], rule["IsActive"]) == ("Contact", True)
        assert rule["DeveloperName"]
        where = "SELECT DeveloperName FROM DuplicateRule WHERE SobjectType = 'Account'"
        assert sf.query(where)["totalSize"] == 0

        soql = (
            "SELECT ValidationName, Active, EntityDefinition.QualifiedApiName FROM ValidationRule"
        )
        res = sf.toolingexecute(f"query/?q={quote(soql)}")
        assert res["done"] and res["totalSize"] == 1 and res["entityTypeName"] == "ValidationRule"
        vr = res["records"][0]
        assert vr["Active"] is True and vr["ValidationName"]
        assert vr["EntityDefinition"]["QualifiedApiName"] == "Contact"
        assert "/tooling/sobjects/ValidationRule/" in vr["attributes"]["url"]
        same = sf.restful("tooling/query", params={"q": soql})
        assert same["records"] == res["records"]

        admin(sb, "POST", "faults/records", {})
        assert sf.restful("tooling/query", params={"q": soql})["totalSize"] == 0
        with pytest.raises(SalesforceMalformedRequest):
            sf.query(soql)  # ValidationRule is a Tooling API object only


# -- latency -----------------------------------------------------------------------------------
def test_per_record_latency_is_charged_per_record_saved() -> None:
    per_record_ms = 10.0
    config = SandboxConfig(org="v2", port=0, per_record_ms=per_record_ms)
    with SandboxThread(config) as sb:
        sf = login(sb)
        nodes = [
            _node(f"a{i}", "POST", f"{BASE}/sobjects/Account", {"Name": f"N{i}"}) for i in range(60)
        ]
        started = time.monotonic()
        res = sf.restful(
            "composite/graph",
            method="POST",
            json={"graphs": [_graph("g1", *nodes[:30]), _graph("g2", *nodes[30:])]},
            timeout=60,  # hang guard only
        )
        assert all(g["isSuccessful"] for g in res["graphs"])
        assert time.monotonic() - started >= 60 * per_record_ms / 1000

        records = [
            {"attributes": {"type": "Account"}, "Legacy_Id__c": f"001P{i}", "Name": "P"}
            for i in range(20)
        ]
        started = time.monotonic()
        sf.restful(
            "composite/sobjects/Account/Legacy_Id__c",
            method="PATCH",
            json={"records": records},
            timeout=60,
        )
        assert time.monotonic() - started >= 20 * per_record_ms / 1000

        assert admin(sb, "POST", "faults", {"per_record_ms": 0})["per_record_ms"] == 0

"""Account hierarchies (Account.ParentId, relationship Parent, child relationship ChildAccounts):
describe, SOQL both ways, the loop Salesforce refuses, and the seeded sites."""

from __future__ import annotations

from devstack.sandbox.api import Org
from devstack.sandbox.config import SandboxConfig
from devstack.sandbox.errors import SfError
from devstack.sandbox.ids import IdFactory
from devstack.sandbox.messages import ApiRequest
from devstack.sandbox.schema import v1_schema
from devstack.sandbox.seed import SeedOptions, seed_v1
from devstack.sandbox.store import Store


def call(org: Org, method: str, path: str, body: object = None, q: str | None = None):
    req = ApiRequest(method, path, {"q": q} if q else {}, body, {}, "59.0", None)
    try:
        _, resp = org.dispatch(req)
    except SfError as exc:
        return exc.status, exc.body()
    return resp.status, resp.body


def test_describe_parent_and_child_accounts() -> None:
    for org in ("v1", "v2"):
        account = Org(SandboxConfig(org=org)).schema.objects["Account"].describe()
        parent = next(f for f in account["fields"] if f["name"] == "ParentId")
        assert parent["referenceTo"] == ["Account"] and parent["relationshipName"] == "Parent"
        rels = {r["relationshipName"]: r for r in account["childRelationships"]}
        assert rels["ChildAccounts"]["field"] == "ParentId"
        assert rels["ChildAccounts"]["cascadeDelete"] is False


def test_parent_by_external_id_query_both_ways_and_delete_clears() -> None:
    org = Org(SandboxConfig(org="v2"))
    head = call(org, "POST", "sobjects/Account", {"Name": "Head", "Legacy_Id__c": "001H"})[1]["id"]
    status, body = call(
        org, "POST", "sobjects/Account", {"Name": "Site", "Parent": {"Legacy_Id__c": "001H"}}
    )
    assert status == 201, body
    site = body["id"]
    rows = call(
        org, "GET", "query", q="SELECT Name, Parent.Name FROM Account WHERE ParentId != null"
    )
    assert [(r["Name"], r["Parent"]["Name"]) for r in rows[1]["records"]] == [("Site", "Head")]
    rows = call(org, "GET", "query", q="SELECT Name, (SELECT Name FROM ChildAccounts) FROM Account")
    by_name = {r["Name"]: r["ChildAccounts"] for r in rows[1]["records"]}
    assert by_name["Head"]["records"][0]["Name"] == "Site" and by_name["Site"] is None
    assert call(org, "DELETE", f"sobjects/Account/{head}")[0] == 204
    assert org.store.get("Account", site)["ParentId"] is None  # a lookup: cleared, not cascaded


def test_hierarchy_loop_is_refused_unless_the_sandbox_allows_it() -> None:
    for allow in (False, True):
        org = Org(SandboxConfig(org="v2", allow_hierarchy_loops=allow))
        a = call(org, "POST", "sobjects/Account", {"Name": "A"})[1]["id"]
        b = call(org, "POST", "sobjects/Account", {"Name": "B", "ParentId": a})[1]["id"]
        c = call(org, "POST", "sobjects/Account", {"Name": "C", "ParentId": b})[1]["id"]
        status, body = call(org, "PATCH", f"sobjects/Account/{a}", {"ParentId": c})
        if allow:
            assert status == 204
            continue
        assert status == 400 and body[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
        assert body[0]["fields"] == ["ParentId"]
        status, body = call(org, "PATCH", f"sobjects/Account/{a}", {"ParentId": a})
        assert status == 400 and body[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
        assert call(org, "PATCH", f"sobjects/Account/{c}", {"ParentId": a})[0] == 204


def _seeded(customers: int, seed: int, rate: float = 0.05) -> Store:
    store = Store(v1_schema(), IdFactory("1S"))
    seed_v1(store, customers, seed, options=SeedOptions(site_rate=rate))
    return store


def test_seeded_sites_share_chains_and_no_loop() -> None:
    store = _seeded(1000, 3)
    rows = store.table("Account").rows
    sites = {rid: row["ParentId"] for rid, row in rows.items() if row.get("ParentId")}
    assert len(sites) == 50  # 5 %
    assert any(parent in sites for parent in sites.values())  # some chains of 2
    assert any(parent > rid for rid, parent in sites.items())  # a parent created after its site
    for rid in sites:
        seen = {rid}
        cursor = sites.get(rid)
        while cursor is not None:
            assert cursor not in seen
            seen.add(cursor)
            cursor = sites.get(cursor)
        assert len(seen) <= 3
    names = [rows[r]["Name"] for r in sites]
    assert sum(n.endswith("Ltd") for n in names) > len(names) / 2  # businesses first


def test_sites_leave_the_customers_values_alone() -> None:
    with_sites, without = _seeded(200, 9), _seeded(200, 9, rate=0.0)
    for name, table in without.tables.items():
        other = with_sites.table(name).rows
        for rid, row in table.rows.items():
            if name == "Account":
                assert {k: v for k, v in other[rid].items() if k != "ParentId"} == row
            else:
                assert other[rid] == row

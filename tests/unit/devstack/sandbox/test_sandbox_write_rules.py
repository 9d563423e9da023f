"""The org's write rules on every write path, through Org.dispatch (no server): audit fields only
on a POST create and only with "Set Audit Fields upon Record Creation", DUPLICATE_VALUE on a
create, who and when every write is stamped with, and deletes into the recycle bin."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devstack.sandbox import reference_data
from devstack.sandbox.api import Org
from devstack.sandbox.config import SandboxConfig
from devstack.sandbox.errors import SfError
from devstack.sandbox.messages import ApiRequest

V = "/services/data/v59.0"
DATED = {
    "CreatedDate": "2019-03-04T05:06:07Z",
    "CreatedById": None,  # filled with a person of the org
    "LastModifiedDate": "2019-04-05T06:07:08Z",
    "LastModifiedById": None,
}
REFUSED = (
    "Unable to create/update fields: {}. Please check the security settings of this field and "
    "verify that it is read/write for your profile or permission set."
)


class Client:
    """Calls one org as one session user."""

    def __init__(self, org: Org, user: str | None = None) -> None:
        self.org = org
        self.user = user

    def __call__(
        self, method: str, path: str, body: object = None, query: dict | None = None
    ) -> tuple[int, object]:
        req = ApiRequest(method, path, query or {}, body, {}, "59.0", self.user)
        try:
            _, resp = self.org.dispatch(req)
        except SfError as exc:
            return exc.status, exc.body()
        return resp.status, resp.body

    def rows(self, soql: str, endpoint: str = "query") -> list[dict]:
        status, body = self("GET", endpoint, query={"q": soql})
        assert status == 200, body
        return body["records"]  # type: ignore[index]


def _client(**config: object) -> Client:
    return Client(Org(SandboxConfig(org="v2", **config)))  # type: ignore[arg-type]


@pytest.fixture
def v2() -> Client:
    return _client()


def _user_id(client: Client, username: str) -> str:
    found = client.org.active_user(username)
    assert found is not None
    return found


def _dated(client: Client) -> dict:
    agent = _user_id(client, reference_data.agents("v2")[0])
    return {**DATED, "CreatedById": agent, "LastModifiedById": agent}


def _refusal(names: list[str]) -> list[dict]:
    return [
        {
            "message": REFUSED.format(", ".join(names)),
            "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
            "fields": names,
        }
    ]


def test_agents_are_active_people_of_each_org() -> None:
    for org in ("v1", "v2"):
        client = Client(Org(SandboxConfig(org=org)))
        agents = reference_data.agents(org)
        assert len(agents) >= 2
        ids = {_user_id(client, name) for name in agents}
        assert client.org.user_id not in ids


def _graph(*nodes: dict) -> dict:
    return {"graphs": [{"graphId": "g", "compositeRequest": list(nodes)}]}


def _node(method: str, url: str, ref: str, body: dict | None = None) -> dict:
    node = {"method": method, "url": f"{V}/{url}", "referenceId": ref}
    if body is not None:
        node["body"] = body
    return node


def _first_error(status: int, body: object) -> dict:
    """The error of a failed write: the resource's own, a collections result's, or the failing
    subrequest's of a composite or graph (not the PROCESSING_HALTED of its rolled back peers)."""
    if isinstance(body, list):
        first = body[0]
        return first["errors"][0] if "errors" in first else first
    assert isinstance(body, dict)
    if "graphs" in body:
        body = body["graphs"][0]["graphResponse"]
    responses = body["compositeResponse"]  # type: ignore[index]
    errors = [r["body"][0] for r in responses if r["httpStatusCode"] >= 400]
    return next(e for e in errors if e["errorCode"] != "PROCESSING_HALTED")


UPSERTS: list[tuple[str, Callable[[Client, dict, str], tuple[int, object]]]] = [
    (
        "single upsert",
        lambda c, body, key: c("PATCH", f"sobjects/Account/Legacy_Id__c/{key}", body),
    ),
    (
        "collections upsert",
        lambda c, body, key: c(
            "PATCH",
            "composite/sobjects/Account/Legacy_Id__c",
            {
                "allOrNone": False,
                "records": [{"attributes": {"type": "Account"}, "Legacy_Id__c": key, **body}],
            },
        ),
    ),
    (
        "composite upsert",
        lambda c, body, key: c(
            "POST",
            "composite",
            {
                "allOrNone": True,
                "compositeRequest": [
                    _node("PATCH", f"sobjects/Account/Legacy_Id__c/{key}", "a", body)
                ],
            },
        ),
    ),
    (
        "graph upsert",
        lambda c, body, key: c(
            "POST",
            "composite/graph",
            _graph(_node("PATCH", f"sobjects/Account/Legacy_Id__c/{key}", "a", body)),
        ),
    ),
]


@pytest.mark.parametrize(("name", "send"), UPSERTS, ids=[n for n, _ in UPSERTS])
@pytest.mark.parametrize("existing", [False, True], ids=["inserting", "updating"])
def test_every_upsert_refuses_the_audit_fields(
    v2: Client, name: str, send: Callable, existing: bool
) -> None:
    if existing:
        assert v2("POST", "sobjects/Account", {"Name": "Old", "Legacy_Id__c": "L1"})[0] == 201
    status, body = send(v2, {"Name": "New", **_dated(v2)}, "L1")
    error = _first_error(status, body)
    assert error["message"] == REFUSED.format(", ".join(DATED))
    assert error.get("errorCode", error.get("statusCode")) == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error["fields"] == list(DATED)
    names = [r["Name"] for r in v2.rows("SELECT Name FROM Account")]
    assert names == (["Old"] if existing else [])


def test_update_by_id_refuses_each_audit_field(v2: Client) -> None:
    _, created = v2("POST", "sobjects/Account", {"Name": "A"})
    rid = created["id"]  # type: ignore[index]
    for field, value in _dated(v2).items():
        assert v2("PATCH", f"sobjects/Account/{rid}", {field: value}) == (400, _refusal([field]))
    _, results = v2(
        "PATCH",
        "composite/sobjects",
        {
            "records": [
                {"attributes": {"type": "Account"}, "Id": rid, "CreatedDate": DATED["CreatedDate"]}
            ]
        },
    )
    assert results[0]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"  # type: ignore[index]


def _created(client: Client, rid: str, sobject: str = "Account") -> dict:
    fields = "CreatedDate, CreatedById, LastModifiedDate, LastModifiedById, SystemModstamp"
    return client.rows(f"SELECT {fields} FROM {sobject} WHERE Id = '{rid}'")[0]


def test_every_post_create_keeps_the_audit_fields_where_granted(v2: Client) -> None:
    dated = _dated(v2)
    kept = {
        "CreatedDate": "2019-03-04T05:06:07.000+0000",
        "CreatedById": dated["CreatedById"],
        "LastModifiedDate": "2019-04-05T06:07:08.000+0000",
        "LastModifiedById": dated["LastModifiedById"],
    }
    status, single = v2("POST", "sobjects/Account", {"Name": "S", "Legacy_Id__c": "S1", **dated})
    assert status == 201
    _, collection = v2(
        "POST",
        "composite/sobjects",
        {
            "allOrNone": True,
            "records": [{"attributes": {"type": "Account"}, "Name": "C", **dated}],
        },
    )
    _, graph = v2(
        "POST",
        "composite/graph",
        _graph(
            _node("POST", "sobjects/Account", "acc", {"Name": "G", "Legacy_Id__c": "G1", **dated}),
            _node(
                "POST",
                "sobjects/Contact",
                "by_ref",
                {"LastName": "R", "AccountId": "@{acc.id}", **dated},
            ),
            _node(
                "POST",
                "sobjects/Contact",
                "by_ext",
                {"LastName": "E", "Account": {"Legacy_Id__c": "G1"}, **dated},
            ),
        ),
    )
    assert graph["graphs"][0]["isSuccessful"], graph  # type: ignore[index]
    responses = graph["graphs"][0]["graphResponse"]["compositeResponse"]  # type: ignore[index]
    ids = [("Account", single["id"]), ("Account", collection[0]["id"])]  # type: ignore[index]
    ids += [
        (o, r["body"]["id"])
        for o, r in zip(("Account", "Contact", "Contact"), responses, strict=True)
    ]
    for sobject, rid in ids:
        row = _created(v2, rid, sobject)
        assert {k: row[k] for k in kept} == kept
        assert row["SystemModstamp"] > "2020"  # nobody sets SystemModstamp


def test_without_the_permission_every_create_refuses_them() -> None:
    client = _client(set_audit_fields=False)
    dated = _dated(client)
    assert client("POST", "sobjects/Account", {"Name": "S", **dated}) == (
        400,
        _refusal(list(DATED)),
    )
    _, results = client(
        "POST",
        "composite/sobjects",
        {
            "records": [
                {
                    "attributes": {"type": "Account"},
                    "Name": "C",
                    "CreatedDate": DATED["CreatedDate"],
                }
            ]
        },
    )
    assert results[0]["errors"][0]["fields"] == ["CreatedDate"]  # type: ignore[index]
    _, graph = client(
        "POST",
        "composite/graph",
        _graph(_node("POST", "sobjects/Account", "a", {"Name": "G", **dated})),
    )
    assert _first_error(200, graph)["fields"] == list(DATED)


def test_duplicate_value_on_every_create(v2: Client) -> None:
    _, first = v2("POST", "sobjects/Account", {"Name": "A", "Legacy_Id__c": "L1"})
    taken = {
        "errorCode": "DUPLICATE_VALUE",
        "message": "duplicate value found: Legacy_Id__c duplicates value on record with id: "
        + first["id"][:15],  # type: ignore[index]
        "fields": [],
    }
    assert v2("POST", "sobjects/Account", {"Name": "B", "Legacy_Id__c": "L1"}) == (400, [taken])
    _, results = v2(
        "POST",
        "composite/sobjects",
        {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "B", "Legacy_Id__c": "L1"},
                {"attributes": {"type": "Account"}, "Name": "C", "Legacy_Id__c": "L2"},
            ],
        },
    )
    assert results[0] == {  # type: ignore[index]
        "id": None,
        "success": False,
        "errors": [{"statusCode": "DUPLICATE_VALUE", "message": taken["message"], "fields": []}],
    }
    assert results[1]["success"]  # type: ignore[index]
    _, graph = v2(
        "POST",
        "composite/graph",
        _graph(
            _node("POST", "sobjects/Account", "new", {"Name": "D", "Legacy_Id__c": "L3"}),
            _node("POST", "sobjects/Account", "dup", {"Name": "E", "Legacy_Id__c": "L1"}),
        ),
    )
    assert not graph["graphs"][0]["isSuccessful"]  # type: ignore[index]
    assert _first_error(200, graph)["errorCode"] == "DUPLICATE_VALUE"
    names = sorted(r["Legacy_Id__c"] for r in v2.rows("SELECT Legacy_Id__c FROM Account"))
    assert names == ["L1", "L2"]  # the graph rolled back as a whole


def test_writes_are_stamped_with_the_session_user_in_increasing_order(v2: Client) -> None:
    agent = _user_id(v2, reference_data.agents("v2")[1])
    as_agent = Client(v2.org, agent)
    _, created = v2("POST", "sobjects/Account", {"Name": "A", "Legacy_Id__c": "L1"})
    rid = created["id"]  # type: ignore[index]
    before = _created(v2, rid)
    assert before["CreatedById"] == before["LastModifiedById"] == v2.org.user_id
    assert as_agent("PATCH", f"sobjects/Account/{rid}", {"Phone": "+44 1"})[0] == 204
    after = _created(v2, rid)
    assert after["LastModifiedById"] == agent and after["CreatedById"] == v2.org.user_id
    assert after["SystemModstamp"] > before["SystemModstamp"]
    # an agent's create is owned by the agent; subrequests run as their request's user
    _, graph = as_agent(
        "POST", "composite/graph", _graph(_node("POST", "sobjects/Account", "a", {"Name": "B"}))
    )
    new = graph["graphs"][0]["graphResponse"]["compositeResponse"][0]["body"]["id"]  # type: ignore[index]
    row = v2.rows(f"SELECT OwnerId, CreatedById FROM Account WHERE Id = '{new}'")[0]
    assert row["OwnerId"] == row["CreatedById"] == agent
    # one collections call: every record its own, strictly later SystemModstamp
    _, results = v2(
        "POST",
        "composite/sobjects",
        {"records": [{"attributes": {"type": "Account"}, "Name": f"N{i}"} for i in range(20)]},
    )
    stamps = [_created(v2, r["id"])["SystemModstamp"] for r in results]  # type: ignore[union-attr]
    assert stamps == sorted(set(stamps)) and len(stamps) == 20
    others = v2.rows(f"SELECT Id FROM Account WHERE LastModifiedById != '{v2.org.user_id}'")
    assert {r["Id"] for r in others} == {rid, new}
    since = v2.rows(f"SELECT Id FROM Account WHERE SystemModstamp > {stamps[9][:23]}Z")
    assert {r["Id"] for r in since} == {r["id"] for r in results[10:]}  # type: ignore[index]


DELETES: list[tuple[str, Callable[[Client, str], object]]] = [
    ("single", lambda c, rid: c("DELETE", f"sobjects/Contact/{rid}")),
    ("collections", lambda c, rid: c("DELETE", "composite/sobjects", query={"ids": rid})),
    (
        "composite",
        lambda c, rid: c(
            "POST",
            "composite",
            {"compositeRequest": [_node("DELETE", f"sobjects/Contact/{rid}", "d")]},
        ),
    ),
    (
        "graph",
        lambda c, rid: c(
            "POST", "composite/graph", _graph(_node("DELETE", f"sobjects/Contact/{rid}", "d"))
        ),
    ),
]


@pytest.mark.parametrize(("name", "send"), DELETES, ids=[n for n, _ in DELETES])
def test_every_delete_goes_to_the_recycle_bin(v2: Client, name: str, send: Callable) -> None:
    agent = _user_id(v2, reference_data.agents("v2")[0])
    _, acc = v2("POST", "sobjects/Account", {"Name": "A"})
    _, contact = v2(
        "POST",
        "sobjects/Contact",
        {"LastName": "C", "AccountId": acc["id"]},  # type: ignore[index]
    )
    rid = contact["id"]  # type: ignore[index]
    before = _created(v2, rid, "Contact")["SystemModstamp"]
    send(Client(v2.org, agent), rid)
    assert v2.rows("SELECT Id FROM Contact") == []
    soql = "SELECT Id, IsDeleted, AccountId, SystemModstamp, LastModifiedById FROM Contact"
    [row] = v2.rows(soql, "queryAll")
    assert row["IsDeleted"] is True and row["AccountId"] == acc["id"]  # type: ignore[index]
    assert row["LastModifiedById"] == agent and row["SystemModstamp"] > before
    status, body = v2("GET", f"sobjects/Contact/{rid}")
    assert (status, body) == (
        404,
        [{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}],
    )
    deleted = v2.rows(
        f"SELECT Id FROM Contact WHERE IsDeleted = true AND SystemModstamp > {before[:23]}Z",
        "queryAll",
    )
    assert [r["Id"] for r in deleted] == [rid]


def test_a_rolled_back_graph_undoes_its_delete(v2: Client) -> None:
    _, acc = v2("POST", "sobjects/Account", {"Name": "A", "Legacy_Id__c": "L1"})
    _, graph = v2(
        "POST",
        "composite/graph",
        _graph(
            _node("DELETE", f"sobjects/Account/{acc['id']}", "d"),  # type: ignore[index]
            _node("POST", "sobjects/Account", "bad", {"Name": "B", "Nope__c": 1}),
        ),
    )
    assert not graph["graphs"][0]["isSuccessful"]  # type: ignore[index]
    [row] = v2.rows("SELECT Id, IsDeleted, Legacy_Id__c FROM Account", "queryAll")
    assert row["IsDeleted"] is False and row["Legacy_Id__c"] == "L1"
    assert v2("POST", "sobjects/Account", {"Name": "C", "Legacy_Id__c": "L1"})[0] == 400


def test_a_deleted_records_external_id_is_free_again(v2: Client) -> None:
    _, acc = v2("POST", "sobjects/Account", {"Name": "A", "Legacy_Id__c": "L1"})
    assert v2("DELETE", f"sobjects/Account/{acc['id']}")[0] == 204  # type: ignore[index]
    assert v2("DELETE", f"sobjects/Account/{acc['id']}")[0] == 404  # type: ignore[index]
    status, upserted = v2("PATCH", "sobjects/Account/Legacy_Id__c/L1", {"Name": "B"})
    assert status == 201 and upserted["created"] is True  # type: ignore[index]
    assert len(v2.rows("SELECT Id FROM Account WHERE Legacy_Id__c = 'L1'", "queryAll")) == 2


def test_query_all_pages_through_query_urls_and_keeps_the_deleted(v2: Client) -> None:
    """The QueryAll docs: "Although the nextRecordsUrl has query in the URL, it still provides
    remaining results from the initial QueryAll request" (deleted records included)."""
    _, results = v2(
        "POST",
        "composite/sobjects",
        {"records": [{"attributes": {"type": "Account"}, "Name": f"N{i}"} for i in range(5)]},
    )
    ids = [r["id"] for r in results]  # type: ignore[union-attr]
    v2("DELETE", "composite/sobjects", query={"ids": ",".join(ids[2:])})
    req = ApiRequest(
        "GET",
        "queryAll",
        {"q": "SELECT Id, IsDeleted FROM Account"},
        None,
        {"Sforce-Query-Options": "batchSize=2"},
    )
    _, first = v2.org.dispatch(req)
    seen = list(first.body["records"])  # type: ignore[index]
    url = first.body["nextRecordsUrl"]  # type: ignore[index]
    while url:
        assert url.startswith("/services/data/v59.0/query/01g")
        status, page = v2("GET", url.removeprefix("/services/data/v59.0/"))
        assert status == 200
        seen += page["records"]  # type: ignore[index]
        url = page.get("nextRecordsUrl")  # type: ignore[union-attr]
    assert [(r["Id"], r["IsDeleted"]) for r in seen] == [(i, n >= 2) for n, i in enumerate(ids)]

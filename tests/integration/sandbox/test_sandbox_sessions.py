"""Sessions are bound to a User of the org: an agent logs in with the JWT bearer flow and what
it saves is stamped with it; logins for a user who is not an active user of the org fail as
Salesforce answers them; deletes reach queryAll through simple-salesforce."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from simple_salesforce import Salesforce, SalesforceAuthenticationFailed

from devstack.keys import ensure_jwt_key_pair
from devstack.sandbox import SandboxConfig, SandboxThread
from devstack.sandbox.reference_data import PEOPLE, agents, username
from tests.integration.sandbox.support import login, login_as, login_jwt

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return ensure_jwt_key_pair(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def org(keys: tuple[Path, Path]) -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig(org="v2", port=0, jwt_cert=str(keys[1]))) as sandbox:
        yield sandbox


def _token(org: SandboxThread, sub: str, key: Path) -> requests.Response:
    assertion = jwt.encode(
        {
            "iss": org.state.org.config.client_id,
            "sub": sub,
            "aud": "https://test.salesforce.com",
            "exp": int(time.time()) + 120,
        },
        key.read_bytes(),
        algorithm="RS256",
    )
    return requests.post(
        f"{org.url}/services/oauth2/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        timeout=5,
    )


def _user_ids(sf: Salesforce) -> dict[str, str]:
    rows = sf.query_all("SELECT Id, Username FROM User")["records"]
    return {r["Username"]: r["Id"] for r in rows}


def test_an_agent_logs_in_with_jwt_and_its_edit_is_attributed_to_it(
    org: SandboxThread, keys: tuple[Path, Path]
) -> None:
    integration = login(org)
    users = _user_ids(integration)
    agent_name = agents("v2")[0]
    agent = login_jwt(org, agent_name, keys[0])
    created = integration.Account.create({"Name": "Acme", "Legacy_Id__c": "001A"})
    before = integration.Account.get(created["id"])
    assert before["CreatedById"] == before["LastModifiedById"] == org.state.org.user_id
    agent.Account.update(created["id"], {"Phone": "+44 20 7946 0000"})
    after = integration.Account.get(created["id"])
    assert after["LastModifiedById"] == users[agent_name]
    assert after["CreatedById"] == org.state.org.user_id
    assert after["SystemModstamp"] > before["SystemModstamp"]
    assert after["LastModifiedDate"] == after["SystemModstamp"]
    soql = (
        "SELECT Id, LastModifiedBy.Username FROM Account "
        f"WHERE LastModifiedById != '{org.state.org.user_id}' "
        f"AND SystemModstamp > {before['SystemModstamp'][:23]}Z"
    )
    rows = integration.query(soql)["records"]
    assert [(r["Id"], r["LastModifiedBy"]["Username"]) for r in rows] == [
        (created["id"], agent_name)
    ]
    # the token's identity URL names the agent, as Salesforce's `id` names the session's user
    assert _token(org, agent_name, keys[0]).json()["id"].endswith("/" + users[agent_name])


@pytest.mark.parametrize(
    "sub",
    [
        "nobody@energy-v2.example",
        username(next(p for p in PEOPLE if p.v2 == "inactive"), "v2"),
        username(next(p for p in PEOPLE if p.v2 == "missing"), "v1"),  # a V1 user only
    ],
    ids=["unknown", "inactive", "other-org"],
)
def test_a_jwt_for_no_active_user_of_the_org_is_invalid_grant(
    org: SandboxThread, keys: tuple[Path, Path], sub: str
) -> None:
    response = _token(org, sub, keys[0])
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "user hasn't approved this consumer",
    }
    # simple-salesforce raises it (and warns about self-authorization on this description)
    with pytest.raises(SalesforceAuthenticationFailed), pytest.warns(UserWarning):
        login_jwt(org, sub, keys[0])


def test_password_login_of_another_user_fails(org: SandboxThread) -> None:
    cfg = org.state.org.config
    response = requests.post(
        f"{org.url}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "username": agents("v2")[0],
            "password": cfg.password,
        },
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    ok = requests.post(
        f"{org.url}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "username": cfg.username,
            "password": cfg.password,
        },
        timeout=5,
    )
    assert ok.json()["id"].endswith("/" + org.state.org.user_id)


def test_deleted_records_leave_query_and_reach_query_all(org: SandboxThread) -> None:
    sf = login(org)
    acc = sf.Account.create({"Name": "Gone", "Legacy_Id__c": "001G"})
    contact = sf.Contact.create({"LastName": "C", "AccountId": acc["id"]})
    sf.Account.delete(acc["id"])  # cascades to the contact
    soql = "SELECT Id, IsDeleted, AccountId FROM Contact"
    assert sf.query_all(soql)["totalSize"] == 0
    rows = sf.query_all(soql, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"], r["AccountId"]) for r in rows] == [
        (contact["id"], True, acc["id"])
    ]


def test_the_admin_api_hands_out_a_session_as_an_agent_of_v1(v1: SandboxThread) -> None:
    """V1 has no JWT certificate: a test edits its records as an agent through /__admin/sessions
    (what a resync must find: SystemModstamp later, LastModifiedById a person)."""
    integration = login(v1)
    agent_name = agents("v1")[1]
    account = integration.query("SELECT Id, SystemModstamp FROM Account LIMIT 1")["records"][0]
    login_as(v1, agent_name).Account.update(account["Id"], {"Phone": "+44 113 496 0000"})
    row = integration.query(
        f"SELECT LastModifiedBy.Username, SystemModstamp FROM Account WHERE Id = '{account['Id']}'"
    )["records"][0]
    assert row["LastModifiedBy"]["Username"] == agent_name
    assert row["SystemModstamp"] > account["SystemModstamp"]
    inactive = username(next(p for p in PEOPLE if not p.v1_active), "v1")
    refused = requests.post(f"{v1.url}/__admin/sessions", json={"username": inactive}, timeout=5)
    assert refused.status_code == 400

"""The two sandbox orgs as the pipeline tests see them: simple-salesforce logins, the admin API
(faults, seeded customers), the objects the mapping moves, SOQL helpers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests
from simple_salesforce import Salesforce

from devstack.stack import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from migration_app.salesforce.http import HttpSettings, build_session
from migration_app.salesforce.login import SANDBOX_MY_DOMAIN

HTTP_TIMEOUT = 5.0
NO_FAULTS = {"latency_ms": 0, "jitter_ms": 0, "error_rates": {}, "hang_rate": 0, "fail_next": {}}

# V1 object -> (V2 object, V1 lookup to the Account, V2 relationship to the Account).
OBJECTS = {
    "Account": ("Account", None, None),
    "Contact": ("Contact", "AccountId", "Account"),
    "Case": ("Case", "AccountId", "Account"),
    "Meter__c": ("Meter_Point__c", "Account__c", "Account__r"),
}


def admin(base_url: str, path: str, body: object = None) -> Any:
    """GET (or POST when ``body`` is given) a sandbox /__admin/ endpoint."""
    method = "GET" if body is None else "POST"
    resp = requests.request(method, f"{base_url}/__admin/{path}", json=body, timeout=HTTP_TIMEOUT)
    resp.raise_for_status()
    return resp.json()


def soql_in(ids: Iterable[str]) -> str:
    return ",".join(f"'{i}'" for i in ids)


def login(url: str, org: str) -> Salesforce:
    """simple-salesforce on a sandbox org through its External Client App (client credentials:
    the dev V2 org has SOAP login() disabled, as new orgs do)."""
    return Salesforce(
        consumer_key=DEV_CLIENT_ID,
        consumer_secret=DEV_CLIENT_SECRET,
        domain=SANDBOX_MY_DOMAIN,
        session=build_session(HttpSettings(connect_timeout=2.0, read_timeout=10.0), url),
    )


def count(sf: Salesforce, soql: str) -> int:
    return int(sf.query(soql)["totalSize"])

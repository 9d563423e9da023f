"""migration_app.salesforce.http: URL rewriting for the sandbox, default timeouts, pool bounds."""

from __future__ import annotations

import pytest
import requests
from requests.adapters import HTTPAdapter

from migration_app.salesforce.http import (
    HttpSettings,
    TimeoutAdapter,
    build_session,
    login_domain_for,
)

SANDBOX = "http://127.0.0.1:8101"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://login.salesforce.com/services/Soap/u/59.0",
            "http://127.0.0.1:8101/services/Soap/u/59.0",
        ),
        (
            "https://acme.my.salesforce.com/services/oauth2/token",
            "http://127.0.0.1:8101/services/oauth2/token",
        ),
        (
            "https://127.0.0.1:8101/services/data/v59.0/query/?q=SELECT+Id",
            "http://127.0.0.1:8101/services/data/v59.0/query/?q=SELECT+Id",
        ),
        (
            "https://127.0.0.1:8102/services/data/v59.0/",
            "https://127.0.0.1:8102/services/data/v59.0/",
        ),
        ("https://example.com/x", "https://example.com/x"),
        ("http://127.0.0.1:8101/__admin/ready", "http://127.0.0.1:8101/__admin/ready"),
    ],
)
def test_sandbox_rewrite(url: str, expected: str) -> None:
    assert TimeoutAdapter(HttpSettings(), SANDBOX).rewrite(url) == expected


def test_production_is_never_rewritten() -> None:
    session = build_session(HttpSettings(), "https://login.salesforce.com")
    adapter = session.get_adapter("https://login.salesforce.com/")
    assert isinstance(adapter, TimeoutAdapter)
    url = "https://login.salesforce.com/services/Soap/u/59.0"
    assert adapter.rewrite(url) == url


def test_default_timeout_applied_only_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, object]] = []

    def fake_send(self: HTTPAdapter, request: requests.PreparedRequest, **kw: object) -> object:
        seen.append((request.url, kw.get("timeout")))
        resp = requests.Response()
        resp.status_code = 200
        resp.request = request
        return resp

    monkeypatch.setattr(HTTPAdapter, "send", fake_send)
    session = build_session(HttpSettings(connect_timeout=1.5, read_timeout=7.0), SANDBOX)
    session.get("https://login.salesforce.com/services/Soap/u/59.0")
    session.get("https://127.0.0.1:8101/x", timeout=2)
    assert seen == [
        ("http://127.0.0.1:8101/services/Soap/u/59.0", (1.5, 7.0)),
        ("http://127.0.0.1:8101/x", 2),
    ]


def test_pool_is_bounded_and_non_blocking() -> None:
    adapter = build_session(HttpSettings(pool_connections=2, pool_maxsize=5)).get_adapter(
        "https://x"
    )
    assert isinstance(adapter, TimeoutAdapter)
    assert adapter._pool_connections == 2 and adapter._pool_maxsize == 5
    assert adapter._pool_block is False


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://login.salesforce.com", "login"),
        ("https://test.salesforce.com/", "test"),
        ("https://acme.my.salesforce.com", "acme.my"),
        ("http://127.0.0.1:8101", "login"),
    ],
)
def test_login_domain_for(url: str, domain: str) -> None:
    assert login_domain_for(url) == domain


@pytest.mark.parametrize("bad", ["https://example.com", "ftp://login.salesforce.com", "nope"])
def test_login_domain_for_rejects_non_salesforce(bad: str) -> None:
    with pytest.raises(ValueError):
        login_domain_for(bad)

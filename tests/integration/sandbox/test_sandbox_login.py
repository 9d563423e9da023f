"""Logins (SOAP, OAuth2, direct session), session expiry and simple-salesforce's re-login."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce, SalesforceAuthenticationFailed, SalesforceExpiredSession

from devstack.sandbox import SandboxThread
from migration_app.salesforce.http import build_session, login_domain_for
from tests.integration.sandbox.support import FAST, admin, login


def test_soap_login_then_api_call(v1: SandboxThread) -> None:
    sf = login(v1)
    assert sf.sf_instance == v1.url.removeprefix("http://")
    assert len(sf.session_id) > 20
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 40


def test_soap_login_bad_password_is_invalid_login(v1: SandboxThread) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        Salesforce(
            username="migration@v1.sandbox",
            password="nope",
            security_token="x",
            domain=login_domain_for(v1.url),
            session=build_session(FAST, v1.url),
        )
    assert err.value.code == "INVALID_LOGIN"


def test_oauth_password_and_client_credentials(v1: SandboxThread) -> None:
    cfg = v1.state.org.config
    session = build_session(FAST, v1.url)
    sf = Salesforce(
        username=cfg.username,
        password=cfg.password,
        consumer_key=cfg.client_id,
        consumer_secret=cfg.client_secret,
        domain="login",
        session=session,
    )
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    sf_cc = Salesforce(
        consumer_key=cfg.client_id,
        consumer_secret=cfg.client_secret,
        domain="sandbox.my",
        session=session,
    )
    assert sf_cc.query("SELECT COUNT() FROM Contact")["totalSize"] > 0


def test_oauth_bad_password_is_invalid_grant(v1: SandboxThread) -> None:
    cfg = v1.state.org.config
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        Salesforce(
            username=cfg.username,
            password="wrong",
            consumer_key=cfg.client_id,
            consumer_secret=cfg.client_secret,
            domain="login",
            session=build_session(FAST, v1.url),
        )
    assert err.value.code == "invalid_grant"


def test_expired_session_triggers_relogin(v1: SandboxThread) -> None:
    sf = login(v1)
    old = sf.session_id
    admin(v1, "POST", "stats/reset")
    assert admin(v1, "POST", "expire-sessions")["expired"] >= 1
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    assert sf.session_id != old
    stats = admin(v1, "GET", "stats")["by_endpoint"]
    assert stats["login"] == 1
    assert stats["query"] == 2  # the 401 and the retry


def test_direct_session_expires_with_401(v1: SandboxThread) -> None:
    token = login(v1).session_id
    sf = Salesforce(session_id=token, instance_url=v1.url, session=build_session(FAST, v1.url))
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    admin(v1, "POST", "expire-sessions")
    with pytest.raises(SalesforceExpiredSession) as err:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert err.value.status == 401
    assert err.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID", "fields": []}
    ]

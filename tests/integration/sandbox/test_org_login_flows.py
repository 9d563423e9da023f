"""The worker's Salesforce client logs in with each flow real orgs accept, against the sandbox,
through simple-salesforce unchanged: JWT bearer, client credentials, legacy SOAP login().

Failures are permanent, clear (Salesforce's error and description), never retried in a storm
(one token request per call) and never leak a secret into the logs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests

from devstack.keys import ensure_jwt_key_pair
from devstack.sandbox import SandboxConfig, SandboxThread
from migration_app.salesforce.client import SalesforceClient, SalesforceSettings
from migration_app.salesforce.errors import SalesforceAuthError
from migration_app.salesforce.http import HttpSettings
from migration_app.settings import Secret

pytestmark = pytest.mark.integration

CLIENT_ID = "ext-client-app-key"
CLIENT_SECRET = "ext-client-app-secret-value"
USERNAME = "integration@v2.sandbox"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return ensure_jwt_key_pair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_jwt_key_pair(tmp_path_factory.mktemp("other"))[0]


@pytest.fixture(scope="module")
def new_org(keys: tuple[Path, Path]) -> Iterator[SandboxThread]:
    """A V2 org as created since Winter '26: SOAP login() disabled, JWT with our certificate."""
    config = SandboxConfig(
        org="v2",
        port=0,
        username=USERNAME,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        jwt_cert=str(keys[1]),
        soap_login=False,
    )
    with SandboxThread(config) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def old_org() -> Iterator[SandboxThread]:
    """A V1 org that still allows SOAP login() (API 64.0 and older)."""
    with SandboxThread(SandboxConfig(org="v1", port=0, customers=3, seed=3)) as sandbox:
        yield sandbox


def token_calls(sandbox: SandboxThread) -> int:
    return int(sandbox.state.stats.by_endpoint.get("oauth_token", 0))


def settings_for(sandbox: SandboxThread, **overrides: object) -> SalesforceSettings:
    base: dict[str, object] = {
        "name": "sf2",
        "url": sandbox.url,
        "username": USERNAME,
        "client_id": CLIENT_ID,
        "http": HttpSettings(connect_timeout=2.0, read_timeout=10.0),
        "max_retries": 3,
        "backoff_base": 0.01,
    }
    return SalesforceSettings(**{**base, **overrides})  # type: ignore[arg-type]


async def run_queries(settings: SalesforceSettings, n: int = 3) -> list[int]:
    client = SalesforceClient(settings)
    await client.start()
    try:
        out = []
        for _ in range(n):
            rows = await client.query_all("SELECT Id FROM Account")
            out.append(len(rows))
        return out
    finally:
        await client.close()


async def failures(settings: SalesforceSettings, n: int = 3) -> list[str]:
    client = SalesforceClient(settings)
    await client.start()
    try:
        out = []
        for _ in range(n):
            with pytest.raises(SalesforceAuthError) as err:
                await client.query_all("SELECT Id FROM Account")
            out.append(str(err.value))
        return out
    finally:
        await client.close()


async def test_jwt_bearer_logs_in_once_for_many_calls(
    new_org: SandboxThread, keys: tuple[Path, Path]
) -> None:
    before = token_calls(new_org)
    counts = await run_queries(settings_for(new_org, auth="jwt", private_key_file=str(keys[0])))
    assert counts == [0, 0, 0]
    assert token_calls(new_org) - before == 1


async def test_client_credentials_logs_in(new_org: SandboxThread) -> None:
    before = token_calls(new_org)
    settings = settings_for(new_org, auth="client_credentials", client_secret=Secret(CLIENT_SECRET))
    assert await run_queries(settings, n=2) == [0, 0]
    assert token_calls(new_org) - before == 1


async def test_concurrent_calls_share_one_token(
    new_org: SandboxThread, keys: tuple[Path, Path]
) -> None:
    client = SalesforceClient(settings_for(new_org, auth="jwt", private_key_file=str(keys[0])))
    await client.start()
    before = token_calls(new_org)
    try:
        await asyncio.gather(*(client.query_all("SELECT Id FROM Account") for _ in range(8)))
    finally:
        await client.close()
    assert token_calls(new_org) - before == 1


async def test_bad_signature_is_a_clear_permanent_error_without_retries(
    new_org: SandboxThread, other_key: Path
) -> None:
    before = token_calls(new_org)
    errors = await failures(settings_for(new_org, auth="jwt", private_key_file=str(other_key)))
    assert all("login failed (jwt): invalid_grant: invalid assertion" in e for e in errors)
    assert token_calls(new_org) - before == 3  # one per call: no retry storm


async def test_unknown_user_is_refused(new_org: SandboxThread, keys: tuple[Path, Path]) -> None:
    settings = settings_for(
        new_org, auth="jwt", private_key_file=str(keys[0]), username="nobody@v2.sandbox"
    )
    errors = await failures(settings, n=1)
    assert "invalid_grant" in errors[0] and "approved" in errors[0]


async def test_wrong_client_secret_is_refused(new_org: SandboxThread) -> None:
    settings = settings_for(new_org, auth="client_credentials", client_secret=Secret("wrong"))
    errors = await failures(settings, n=1)
    assert "login failed (client_credentials): invalid_client" in errors[0]


async def test_soap_login_on_an_org_that_disabled_it_is_refused(new_org: SandboxThread) -> None:
    settings = settings_for(new_org, auth="password", password=Secret("sandbox-v2-password"))
    errors = await failures(settings, n=1)
    assert "login failed (password): INVALID_OPERATION" in errors[0]


async def test_legacy_soap_login_still_works_where_enabled_on_api_64(
    old_org: SandboxThread,
) -> None:
    cfg = old_org.state.org.config
    settings = settings_for(
        old_org,
        name="sf1",
        auth="password",
        username=cfg.username,
        password=Secret(cfg.password or ""),
        security_token=Secret(cfg.security_token or ""),
    )
    assert settings.api_version == "66.0"  # the REST version; login() goes out on 64.0
    assert await run_queries(settings, n=1) == [3]


def test_expired_assertion_is_invalid_grant(
    new_org: SandboxThread, keys: tuple[Path, Path]
) -> None:
    """simple-salesforce always signs a fresh assertion, so post an expired one directly."""
    assertion = jwt.encode(
        {
            "iss": CLIENT_ID,
            "sub": USERNAME,
            "aud": "https://login.salesforce.com",
            "exp": int(time.time()) - 600,
        },
        keys[0].read_bytes(),
        algorithm="RS256",
    )
    response = requests.post(
        f"{new_org.url}/services/oauth2/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "expired authorization code",
    }


async def test_no_secret_reaches_the_logs(
    new_org: SandboxThread, keys: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await failures(
        settings_for(new_org, auth="client_credentials", client_secret=Secret("s3cr3t-value-x")),
        n=1,
    )
    await failures(settings_for(new_org, auth="password", password=Secret("pw-value-y")), n=1)
    await run_queries(settings_for(new_org, auth="jwt", private_key_file=str(keys[0])), n=1)
    key_body = keys[0].read_text().splitlines()[1]
    for secret in ("s3cr3t-value-x", "pw-value-y", key_body, CLIENT_SECRET):
        assert secret not in caplog.text
    assert "deprecated" in caplog.text  # the legacy flow warns with the retirement date
    assert "Summer '27" in caplog.text


async def test_health_shows_the_org_down_with_salesforces_reason(
    new_org: SandboxThread, other_key: Path
) -> None:
    from migration_app.ops.health import Check, run_check

    client = SalesforceClient(settings_for(new_org, auth="jwt", private_key_file=str(other_key)))
    await client.start()
    try:
        result = await run_check(Check("sf2", client.ping, True, None), 5.0, lambda text: text)
    finally:
        await client.close()
    assert result.status == "DOWN"
    assert "SalesforceAuthError" in (result.error or "")
    assert "invalid_grant: invalid assertion" in (result.error or "")

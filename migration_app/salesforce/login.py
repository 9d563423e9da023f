"""How one org logs in: OAuth 2.0 JWT bearer, client credentials, or legacy SOAP login().

All three go through simple-salesforce's ``SalesforceLogin`` unchanged, over the client's own
requests.Session (timeouts; sandbox URL rewriting). Salesforce removed SOAP ``login()`` from API
65.0, disables it in orgs created since Winter '26 and retires it in Summer '27 (Help 005132110),
so production uses an External Client App with one of the OAuth flows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from simple_salesforce import SalesforceLogin

from migration_app.salesforce.http import login_domain_for
from migration_app.settings import SOAP_LOGIN_RETIREMENT, Secret

log = logging.getLogger(__name__)

#: SOAP login() exists up to API 64.0: the legacy flow logs in there, whatever the REST version.
LAST_SOAP_LOGIN_VERSION = "64.0"
#: Any https://*.salesforce.com name works for the sandbox: the session rewrites it locally.
SANDBOX_MY_DOMAIN = "sandbox.my"


@dataclass(frozen=True)
class LoginSettings:
    """One org's credentials; secrets are ``Secret`` (masked in reprs), the key is a path."""

    url: str
    flow: str = "jwt"  # jwt | client_credentials | password
    username: str = ""
    client_id: str = ""
    client_secret: Secret = Secret("")
    private_key_file: str = ""
    password: Secret = Secret("")
    security_token: Secret = Secret("")


def _is_sandbox(url: str) -> bool:
    return urlsplit(url).scheme == "http"


def jwt_domains(url: str) -> tuple[str, str | None]:
    """(audience domain, token-endpoint domain) for the JWT bearer flow.

    Salesforce wants ``aud`` = https://login.salesforce.com (production) or
    https://test.salesforce.com (sandbox orgs), while the token request may go to the My Domain.
    """
    if _is_sandbox(url):
        return "login", None
    host = (urlsplit(url).hostname or "").lower()
    audience = "test" if host == "test.salesforce.com" or ".sandbox.my." in host else "login"
    domain = login_domain_for(url)
    return audience, (domain if domain.endswith(".my") or ".my." in host else None)


def my_domain(url: str) -> str:
    """The My Domain of a client-credentials org (simple-salesforce refuses login/test)."""
    return SANDBOX_MY_DOMAIN if _is_sandbox(url) else login_domain_for(url)


def soap_version(api_version: str) -> str:
    """The API version the legacy SOAP login() is sent with (it is gone from 65.0 on)."""
    return min(api_version, LAST_SOAP_LOGIN_VERSION, key=lambda v: tuple(map(int, v.split("."))))


def warn_if_legacy(name: str, login: LoginSettings) -> None:
    if login.flow == "password":
        log.warning(
            "%s: logging in with SOAP login() (username + password) is deprecated: new orgs "
            "disable it and Salesforce retires it in %s; set MIGRATION_%s_AUTH=jwt or "
            "client_credentials (README: Connecting to real orgs)",
            name,
            SOAP_LOGIN_RETIREMENT,
            name.upper(),
        )


def obtain_session(
    login: LoginSettings, session: requests.Session, api_version: str
) -> tuple[str, str]:
    """(session id / access token, instance host) from the org's flow; simple-salesforce raises
    ``SalesforceAuthenticationFailed`` with Salesforce's error and description."""
    if login.flow == "jwt":
        audience, token_domain = jwt_domains(login.url)
        return SalesforceLogin(
            username=login.username,
            consumer_key=login.client_id,
            privatekey_file=login.private_key_file,
            domain=audience,
            instance_url=token_domain,
            session=session,
            sf_version=api_version,
        )
    if login.flow == "client_credentials":
        return SalesforceLogin(
            consumer_key=login.client_id,
            consumer_secret=login.client_secret.reveal(),
            domain=my_domain(login.url),
            session=session,
            sf_version=api_version,
        )
    return SalesforceLogin(
        username=login.username,
        password=login.password.reveal(),
        security_token=login.security_token.reveal(),
        domain=login_domain_for(login.url),
        session=session,
        sf_version=soap_version(api_version),
    )

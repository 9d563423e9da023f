"""A requests.Session for simple-salesforce: default timeouts, a bounded pool, and (for the local
sandbox only) rewriting of the https:// URLs simple-salesforce always builds.

Why: simple-salesforce has no timeout argument and hard-codes `https://{domain}.salesforce.com` for
login and `https://{instance}` afterwards. A mounted adapter fixes both without patching it:
`Salesforce(..., domain=login_domain_for(url), session=build_session(HttpSettings(), url))`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

_SF_SUFFIX = ".salesforce.com"


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts (seconds) and connection-pool bounds for one Salesforce org."""

    connect_timeout: float = 3.0
    read_timeout: float = 30.0
    pool_connections: int = 4
    pool_maxsize: int = 16


class TimeoutAdapter(HTTPAdapter):
    """Applies a default (connect, read) timeout and, when `rewrite_to` is an http:// base URL,
    sends https://*.salesforce.com and https://<host:port of rewrite_to> there instead."""

    def __init__(self, settings: HttpSettings, rewrite_to: str | None = None) -> None:
        self._timeout = (settings.connect_timeout, settings.read_timeout)
        self._target = urlsplit(rewrite_to) if rewrite_to else None
        super().__init__(
            pool_connections=settings.pool_connections,
            pool_maxsize=settings.pool_maxsize,
            pool_block=False,
        )

    def rewrite(self, url: str) -> str:
        """The URL the request really goes to (unchanged unless sandbox rewriting applies)."""
        target = self._target
        if target is None:
            return url
        parts = urlsplit(url)
        if parts.scheme != "https":
            return url
        host = (parts.hostname or "").lower()
        if host.endswith(_SF_SUFFIX) or parts.netloc.lower() == target.netloc.lower():
            return urlunsplit(
                (target.scheme, target.netloc, parts.path, parts.query, parts.fragment)
            )
        return url

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        if request.url:
            request.url = self.rewrite(request.url)
        return super().send(request, **kwargs)


def _is_sandbox(base_url: str | None) -> bool:
    return bool(base_url) and urlsplit(base_url).scheme == "http"  # type: ignore[arg-type]


def build_session(settings: HttpSettings, base_url: str | None = None) -> requests.Session:
    """A Session whose every request has a timeout; rewrites to `base_url` if it is http://."""
    session = requests.Session()
    adapter = TimeoutAdapter(settings, base_url.rstrip("/") if _is_sandbox(base_url) else None)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def login_domain_for(base_url: str) -> str:
    """The `domain` argument for simple_salesforce.Salesforce.

    https://login.salesforce.com -> "login", https://test.salesforce.com -> "test",
    https://acme.my.salesforce.com -> "acme.my"; an http:// sandbox URL -> "login" (the session
    rewrites the login URL to the sandbox anyway).
    """
    parts = urlsplit(base_url)
    if parts.scheme == "http":
        return "login"
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host.endswith(_SF_SUFFIX) or host == _SF_SUFFIX[1:]:
        raise ValueError(f"not a Salesforce login URL: {base_url!r}")
    return host[: -len(_SF_SUFFIX)]

"""The transport-free request and response of the sandbox's REST resources (a leaf module:
the HTTP server, the resources and composite subrequests all speak it)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import not_found
from .schema import API_VERSION

_VERSION_PREFIX = re.compile(r"^/services/data/v(\d+\.\d+)/?")


@dataclass
class ApiRequest:
    method: str
    path: str  # below /services/data/vXX.X/, without leading or trailing slash
    query: Mapping[str, str] = field(default_factory=dict)
    body: object = None
    headers: Mapping[str, str] = field(default_factory=dict)
    version: str = API_VERSION
    #: the User the request's session runs as (None: a subrequest, which runs as its request)
    user_id: str | None = None


@dataclass
class ApiResponse:
    status: int
    body: object = None


def request_from_url(
    method: str, url: str, body: object, headers: Mapping[str, str] | None = None
) -> ApiRequest:
    """An ApiRequest for a composite subrequest url like /services/data/v59.0/sobjects/Account."""
    parts = urlsplit(url)
    m = _VERSION_PREFIX.match(parts.path)
    if m is None:
        raise not_found(f"Unsupported subrequest url: {url}")
    path = unquote(parts.path[m.end() :]).strip("/")
    return ApiRequest(
        method.upper(), path, dict(parse_qsl(parts.query)), body, headers or {}, m.group(1)
    )

"""Logins (SOAP partner login, OAuth2 token) and the session ids they hand out.

Why: simple-salesforce logs in with SOAP (password + security token concatenated) or OAuth2 and
re-logs in by itself on 401 INVALID_SESSION_ID; expiring sessions on demand exercises that path.
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from .config import SandboxConfig
from .errors import SfError

INVALID_LOGIN = "Invalid username, password, security token; or user locked out."


@dataclass
class Sessions:
    org_id: str
    ttl_s: float | None = None
    _tokens: dict[str, float] = field(default_factory=dict)

    def issue(self) -> str:
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(48)}"
        self._tokens[token] = time.monotonic()
        return token

    def check(self, authorization: str | None) -> None:
        """Raise 401 INVALID_SESSION_ID unless the Bearer/OAuth token is live."""
        token = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() in ("bearer", "oauth"):
                token = value.strip()
        issued = self._tokens.get(token or "")
        if issued is None or (self.ttl_s is not None and time.monotonic() - issued > self.ttl_s):
            raise SfError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def expire_all(self) -> int:
        n = len(self._tokens)
        self._tokens.clear()
        return n


def soap_credentials(body: bytes) -> tuple[str, str]:
    """Username and password(+token) from a partner `login` envelope."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError("malformed SOAP envelope") from exc
    found: dict[str, str] = {}
    for el in root.iter():
        local = el.tag.rsplit("}", 1)[-1]
        if local in ("username", "password"):
            found[local] = el.text or ""
    if "username" not in found or "password" not in found:
        raise ValueError("login needs username and password")
    return found["username"], found["password"]


def check_password(config: SandboxConfig, username: str, password: str, with_token: bool) -> bool:
    if not secrets.compare_digest(username, config.username or ""):
        return False
    full = (config.password or "") + (config.security_token or "")
    ok_full = secrets.compare_digest(password, full)
    return ok_full or (not with_token and secrets.compare_digest(password, config.password or ""))


def soap_login_ok(
    server_url: str, session_id: str, user_id: str, org_id: str, username: str
) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\
<soapenv:Body><loginResponse><result>\
<metadataServerUrl>{escape(server_url.replace("/u/", "/m/"))}</metadataServerUrl>\
<passwordExpired>false</passwordExpired><sandbox>true</sandbox>\
<serverUrl>{escape(server_url)}</serverUrl><sessionId>{escape(session_id)}</sessionId>\
<userId>{user_id}</userId><userInfo><organizationId>{org_id}</organizationId>\
<userName>{escape(username)}</userName></userInfo>\
</result></loginResponse></soapenv:Body></soapenv:Envelope>"""


def soap_fault(code: str, message: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\
<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode>\
<faultstring>{code}: {escape(message)}</faultstring><detail>\
<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>\
<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:LoginFault>\
</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"""

"""Logins (SOAP partner login, OAuth2 token) and the session ids they hand out.

Why: simple-salesforce logs in with SOAP (password + security token concatenated) or OAuth2 and
re-logs in by itself on 401 INVALID_SESSION_ID; expiring sessions on demand exercises that path.

Every session is bound to one User of the org, the one the login named: the integration user
for the password flows (SOAP login, OAuth password: only it has a password here) and the client
credentials flow (its run-as user), the JWT's subject for the JWT bearer flow (any active user:
an "agent" can log in and edit records as a person). Each save is stamped with that user.
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from .config import SandboxConfig
from .errors import SfError

INVALID_LOGIN = "Invalid username, password, security token; or user locked out."
#: Salesforce removed SOAP login() from API 65.0 (Help article 005132110).
FIRST_VERSION_WITHOUT_SOAP_LOGIN = (65, 0)


@dataclass
class Sessions:
    org_id: str
    ttl_s: float | None = None
    #: token -> (issued at, the session's User id)
    _tokens: dict[str, tuple[float, str]] = field(default_factory=dict)

    def issue(self, user_id: str) -> str:
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(48)}"
        self._tokens[token] = (time.monotonic(), user_id)
        return token

    def check(self, authorization: str | None) -> str:
        """The session's User id; 401 INVALID_SESSION_ID unless the Bearer/OAuth token is live."""
        token = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() in ("bearer", "oauth"):
                token = value.strip()
        found = self._tokens.get(token or "")
        if found is None or (self.ttl_s is not None and time.monotonic() - found[0] > self.ttl_s):
            raise SfError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return found[1]

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


# -- OAuth 2.0 JWT bearer flow --------------------------------------------------------------------
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Salesforce: "exp ... within 3 minutes" of the request; allow a little clock skew on top.
JWT_MAX_LIFETIME_S = 3 * 60
JWT_LEEWAY_S = 30
JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class OAuthError(Exception):
    """An OAuth error in Salesforce's shape: HTTP 400 {"error", "error_description"}."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


def load_verification_key(path: str) -> object:
    """The app's certificate (or bare public key), as the org keeps it for the JWT flow."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    data = open(path, "rb").read()
    if b"BEGIN CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return load_pem_public_key(data)


#: what Salesforce answers a JWT whose subject it will not issue a token for
JWT_USER_REFUSED = "user hasn't approved this consumer"


def verify_jwt_assertion(
    assertion: str,
    key: object | None,
    config: SandboxConfig,
    own_url: str,
    find_user: Callable[[str], str | None],
) -> str:
    """The User id of the assertion's subject if Salesforce would accept it; else OAuthError as
    Salesforce says.

    Checked as documented for the JWT bearer flow: RS256 signature against the app's
    certificate, ``iss`` = the app's client id, ``aud`` = the login URL (login/test or the org's
    own URL), ``sub`` = the username of an active user of the org (`find_user`), ``exp`` in the
    future and at most 3 minutes away. Every user of the org counts as pre-authorized for the
    External Client App. Error texts follow Salesforce's where known; which description goes
    with which failure could not be confirmed for every case (Salesforce mostly answers
    "invalid_grant"). A subject that is no active user answers invalid_grant "user hasn't
    approved this consumer", the description real orgs give a subject they will not issue a
    token for (quoted in many public reports, also for a wrong username); Salesforce documents
    no separate text for an unknown or inactive username, so that could not be confirmed.
    """
    import jwt

    if key is None:
        raise OAuthError("invalid_grant", "invalid assertion")  # no certificate: JWT off
    try:
        claims = jwt.decode(
            assertion,
            key,  # type: ignore[arg-type]
            algorithms=["RS256"],
            options={"require": ["iss", "sub", "aud", "exp"], "verify_aud": False},
            leeway=JWT_LEEWAY_S,
        )
    except jwt.ExpiredSignatureError:
        raise OAuthError("invalid_grant", "expired authorization code") from None
    except jwt.InvalidTokenError:
        raise OAuthError("invalid_grant", "invalid assertion") from None
    if claims["iss"] != config.client_id:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if not any(a.rstrip("/") in (*JWT_AUDIENCES, own_url.rstrip("/")) for a in audiences):
        raise OAuthError("invalid_grant", "audience is invalid")
    if float(claims["exp"]) > time.time() + JWT_MAX_LIFETIME_S + JWT_LEEWAY_S:
        raise OAuthError("invalid_grant", "invalid assertion")
    user_id = find_user(str(claims["sub"]))
    if user_id is None:
        raise OAuthError("invalid_grant", JWT_USER_REFUSED)
    return user_id

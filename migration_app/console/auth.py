"""Who may see and do what in the console: tokens, the session cookie and CSRF tokens.

Why stateless: the console sits behind a load balancer in front of many workers, so a browser's
next request may land on another worker. The session cookie and the CSRF token are HMACs keyed
by the token itself, so every worker configured with the same tokens verifies them, and nothing
is stored. The cookie never holds the token; rotating a token ends its sessions everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import IntEnum
from typing import Any
from urllib.parse import urlsplit

SESSION_COOKIE = "migration_console"
COOKIE_PATH = "/migrations"
SESSION_MAX_AGE = 8 * 3600  # seconds; a shift


class Role(IntEnum):
    """Ordered: each role can do what the ones below it can."""

    ANONYMOUS = 0
    READER = 1
    OPERATOR = 2


@dataclass(frozen=True)
class Principal:
    """The caller: a token's name (``public`` when the console is open) and its role."""

    name: str
    role: Role
    via: str = ""  # "bearer" | "cookie" | "public" | ""
    secret: str = ""  # the token that authenticated (keys this session's CSRF token)

    @property
    def can_read(self) -> bool:
        return self.role >= Role.READER

    @property
    def can_act(self) -> bool:
        return self.role >= Role.OPERATOR


ANONYMOUS = Principal("anonymous", Role.ANONYMOUS)


@dataclass(frozen=True)
class Token:
    name: str
    secret: str
    role: Role


def parse_tokens(raw: str, role: Role, default_name: str) -> list[Token]:
    """``token`` or ``name:token,name2:token2``; a bare token gets ``default_name``."""
    tokens = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, secret = item.partition(":")
        if not sep:
            name, secret = default_name, item
        if secret:
            tokens.append(Token(name.strip() or default_name, secret.strip(), role))
    return tokens


def _mac(secret: str, purpose: str, value: str = "") -> str:
    return hmac.new(secret.encode(), f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()


class Authenticator:
    """Checks a request's bearer token or session cookie against the configured tokens."""

    def __init__(self, operator_tokens: str, read_tokens: str, *, public: bool) -> None:
        self.tokens = parse_tokens(operator_tokens, Role.OPERATOR, "operator") + parse_tokens(
            read_tokens, Role.READER, "reader"
        )
        self.public = public

    @property
    def actions_enabled(self) -> bool:
        return any(t.role is Role.OPERATOR for t in self.tokens)

    def by_secret(self, secret: str) -> Token | None:
        for token in self.tokens:
            if secret and hmac.compare_digest(token.secret.encode(), secret.encode()):
                return token
        return None

    def session_value(self, token: Token) -> str:
        """The cookie: the token's name and an HMAC only the token's holder could make."""
        return f"{token.name}.{_mac(token.secret, 'session', token.name)}"

    def from_session(self, value: str) -> Token | None:
        name, _, mac = value.partition(".")
        for token in self.tokens:
            expected = _mac(token.secret, "session", token.name)
            if token.name == name and hmac.compare_digest(expected, mac):
                return token
        return None

    def principal(self, headers: Any, cookies: Any) -> Principal:
        """Bearer header first (scripts), then the cookie (browsers), then public or nobody."""
        auth = headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            token = self.by_secret(auth[7:].strip())
            if token is not None:
                return Principal(token.name, token.role, "bearer", token.secret)
            return ANONYMOUS  # a wrong bearer token is never upgraded by the cookie
        cookie = cookies.get(SESSION_COOKIE)
        if cookie:
            token = self.from_session(cookie)
            if token is not None:
                return Principal(token.name, token.role, "cookie", token.secret)
        if self.public:
            return Principal("public", Role.READER, "public")
        return ANONYMOUS

    @staticmethod
    def csrf_token(principal: Principal, customer_id: str, action: str) -> str:
        """Bound to the session's token and to the one action it confirms."""
        if not principal.secret:
            return ""
        return _mac(principal.secret, "csrf", f"{customer_id}\0{action}")

    def csrf_ok(self, principal: Principal, customer_id: str, action: str, sent: str) -> bool:
        if principal.via == "bearer":
            return True  # not sent by a browser on its own: no cross-site request to forge
        expected = self.csrf_token(principal, customer_id, action)
        return bool(expected) and hmac.compare_digest(expected, sent or "")


def same_origin(headers: Any, host: str) -> bool:
    """A POST's Origin (or Referer), when the browser sends one, must be this host."""
    origin = headers.get("Origin") or headers.get("Referer")
    if not origin or origin == "null":
        return not origin  # absent: scripts and old browsers; "null": sandboxed, refuse
    return urlsplit(origin).netloc == host


def safe_next(target: str | None) -> str:
    """Where to go after login: only a path of the console (no open redirect)."""
    if target and target.startswith("/migrations") and "//" not in target and "\\" not in target:
        return target
    return "/migrations/"

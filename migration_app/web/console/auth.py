"""Who may see and do what in the console: tokens, sessions, CSRF tokens, failed sign-ins.

Sessions. The console sits behind a load balancer in front of many workers, so a browser's next
request may land on another worker: a session is a signed cookie every worker can check without
a lookup. ``issued_at.nonce.name.mac``, where ``mac`` is an HMAC of the rest under a server key
derived from all configured tokens (so every worker with the same tokens shares it, the cookie
never holds a token, and rotating any token ends every session). The server refuses a cookie
older than ``SESSION_MAX_AGE`` whatever the browser kept; each sign-in draws a new nonce, so two
sign-ins give two cookies. Sign-out revokes the nonce: in this worker at once (``RevokedSessions``,
bounded) and, through the audit database, in the others within ``REVOCATION_SYNC_S``.

CSRF. A form's token is an HMAC of the session (its nonce; ``bearer:<name>`` for a Bearer
caller), the customer and the action: it is worth nothing in another session. A request that a
browser may have sent on its own (it carries a Cookie or a ``Sec-Fetch-Site`` header) must carry
that token, or, with a Bearer header an auth proxy added, a same-origin ``Origin``; only a bare
script (neither header) is exempt. A cross-site Origin or Sec-Fetch-Site is always refused.

Failed sign-ins (form or Bearer) are logged with the client address, never the secret, and
throttled per address (``LoginThrottle``, bounded).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any
from urllib.parse import urlsplit

from migration_app.tokens import split_tokens

log = logging.getLogger(__name__)

SESSION_COOKIE = "migration_console"
COOKIE_PATH = "/migrations"
SESSION_MAX_AGE = 8 * 3600  # seconds; a shift
CLOCK_SKEW_S = 60  # a cookie issued by a worker whose clock is this much ahead still counts
REVOCATION_SYNC_S = 2.0  # how often a worker reads the sign-outs of the others
MAX_REVOKED = 10_000  # live revocations kept; beyond, the oldest sessions all end (fail closed)


class Role(IntEnum):
    """Ordered: each role can do what the ones below it can."""

    ANONYMOUS = 0
    READER = 1
    OPERATOR = 2


@dataclass(frozen=True)
class Principal:
    """The caller: a token's name (``public`` when the console is open), its role, how it came
    in, and the session its CSRF tokens are bound to. Never a secret: templates receive it."""

    name: str
    role: Role
    via: str = ""  # "bearer" | "cookie" | "public" | ""
    session: str = field(default="", repr=False)  # the cookie's nonce, or "bearer:<name>"

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
    secret: str = field(repr=False)
    role: Role = Role.READER


def parse_tokens(raw: str, role: Role, default_name: str) -> list[Token]:
    """``token`` or ``name:token,name2:token2``; a bare token gets ``default_name`` (the
    settings refused anything ambiguous at start: ``migration_app.tokens``)."""
    return [Token(t.name, t.secret, role) for t in split_tokens(raw, default_name) if t.secret]


def server_key(tokens: Iterable[Token]) -> bytes:
    """The key sessions and CSRF tokens are signed with: the same on every worker with the same
    tokens, changed by any token's rotation. Without tokens, a random key (no session exists)."""
    material = sorted(f"{t.role.value}\0{t.name}\0{t.secret}" for t in tokens)
    if not material:
        return secrets.token_bytes(32)
    return hashlib.sha256("\1".join(["migration-console-session-v2", *material]).encode()).digest()


def _mac(key: bytes, purpose: str, value: str) -> str:
    return hmac.new(key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Session:
    """What a session cookie says once its signature checked out."""

    name: str
    issued_at: int
    nonce: str

    @property
    def expires_at(self) -> int:
        return self.issued_at + SESSION_MAX_AGE


class RevokedSessions:
    """Nonces of signed-out sessions, each kept until the session would have expired anyway.

    Bounded: past ``limit`` live entries the oldest-issued ones are dropped and ``floor`` rises
    to their issue time, so every session issued up to then is refused (a flood of sign-outs
    ends old sessions early; it never lets a signed-out cookie back in)."""

    def __init__(self, limit: int = MAX_REVOKED) -> None:
        self.limit = limit
        self.floor = 0
        self._entries: dict[str, int] = {}  # nonce -> issued_at

    def __len__(self) -> int:
        return len(self._entries)

    def revoke(self, nonce: str, issued_at: int, now: float) -> None:
        self._entries[nonce] = issued_at
        if len(self._entries) > self.limit:
            self.prune(now)
        while len(self._entries) > self.limit:
            oldest = min(self._entries, key=self._entries.__getitem__)
            self.floor = max(self.floor, self._entries.pop(oldest))

    def merge(self, rows: Iterable[tuple[str, int]], now: float) -> None:
        """Sign-outs of other workers (nonce, issued_at), from the audit database."""
        for nonce, issued_at in rows:
            if nonce not in self._entries:
                self.revoke(nonce, int(issued_at), now)

    def prune(self, now: float) -> None:
        expired = [n for n, issued in self._entries.items() if issued + SESSION_MAX_AGE < now]
        for nonce in expired:
            del self._entries[nonce]

    def __contains__(self, session: object) -> bool:
        if not isinstance(session, Session):
            return False
        return session.nonce in self._entries or session.issued_at <= self.floor


class LoginThrottle:
    """Failed sign-ins per client address: after ``max_failures`` within ``window`` seconds
    the address is refused until the window has passed. At most ``max_addresses`` are tracked
    (least recently failed forgotten first), so a scan from many addresses costs bounded memory."""

    def __init__(
        self,
        *,
        max_failures: int = 5,
        window: float = 60.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_addresses = max_addresses
        self._clock = clock
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def _recent(self, address: str) -> list[float]:
        since = self._clock() - self.window
        recent = [t for t in self._failures.get(address, ()) if t > since]
        if recent:
            self._failures[address] = recent
        else:
            self._failures.pop(address, None)
        return recent

    def retry_after(self, address: str) -> float:
        """0 when the address may try; else the seconds until it may."""
        recent = self._recent(address)
        if len(recent) < self.max_failures:
            return 0.0
        return max(0.0, recent[-self.max_failures] + self.window - self._clock())

    def failed(self, address: str) -> int:
        """Record a failure; returns the failures within the window."""
        recent = self._recent(address)
        recent.append(self._clock())
        self._failures[address] = recent[-self.max_failures :]
        self._failures.move_to_end(address)
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)
        return len(recent)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


class Authenticator:
    """Checks a request's Bearer token or session cookie against the configured tokens."""

    def __init__(
        self,
        operator_tokens: str,
        read_tokens: str,
        *,
        public: bool,
        clock: Callable[[], float] = time.time,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.tokens = parse_tokens(operator_tokens, Role.OPERATOR, "operator") + parse_tokens(
            read_tokens, Role.READER, "reader"
        )
        self.public = public
        self._clock = clock
        self._key = server_key(self.tokens)
        self.revoked = RevokedSessions()
        self.throttle = throttle or LoginThrottle()

    def __repr__(self) -> str:
        return f"Authenticator({len(self.tokens)} tokens, public={self.public})"

    @property
    def actions_enabled(self) -> bool:
        return any(t.role is Role.OPERATOR for t in self.tokens)

    def by_secret(self, secret: str) -> Token | None:
        found = None
        for token in self.tokens:  # every comparison made: the time says nothing
            if secret and hmac.compare_digest(token.secret.encode(), secret.encode()):
                found = token
        return found

    # -- sessions --

    def new_session(self, token: Token) -> str:
        """A fresh cookie value for ``token``'s holder: issued now, its own nonce."""
        payload = f"{int(self._clock())}.{secrets.token_urlsafe(16)}.{token.name}"
        return f"{payload}.{_mac(self._key, 'session', payload)}"

    def check_session(self, value: str) -> tuple[Token, Session] | None:
        """The token and session a cookie stands for, or None: forged, expired, signed out, or
        its token no longer configured."""
        payload, _, mac = value.rpartition(".")
        if not payload or not hmac.compare_digest(_mac(self._key, "session", payload), mac):
            return None
        issued, _, rest = payload.partition(".")
        nonce, _, name = rest.partition(".")
        if not issued.isdigit() or not nonce or not name:
            return None
        session = Session(name, int(issued), nonce)
        now = self._clock()
        if not session.issued_at - CLOCK_SKEW_S <= now <= session.expires_at:
            return None
        if session in self.revoked:
            return None
        token = next((t for t in self.tokens if t.name == name), None)
        return (token, session) if token is not None else None

    def end_session(self, value: str) -> Session | None:
        """Sign-out: the cookie's session is refused from now on (here; the caller shares it)."""
        checked = self.check_session(value)
        if checked is None:
            return None
        session = checked[1]
        self.revoked.revoke(session.nonce, session.issued_at, self._clock())
        return session

    # -- who is calling --

    def principal(self, headers: Any, cookies: Any, address: str = "") -> Principal:
        """Bearer header first (scripts, auth proxies), then the cookie (browsers), then public
        or nobody. A wrong Bearer token is a failed sign-in: logged, counted, never upgraded."""
        auth = headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            if self.throttle.retry_after(address):
                return ANONYMOUS
            token = self.by_secret(auth[7:].strip())
            if token is not None:
                return Principal(token.name, token.role, "bearer", f"bearer:{token.name}")
            self.failed_sign_in(address, "bearer")
            return ANONYMOUS
        cookie = cookies.get(SESSION_COOKIE)
        if cookie:
            checked = self.check_session(cookie)
            if checked is not None:
                token, session = checked
                return Principal(token.name, token.role, "cookie", session.nonce)
        if self.public:
            return Principal("public", Role.READER, "public")
        return ANONYMOUS

    def failed_sign_in(self, address: str, how: str) -> None:
        """Log (address and how, never what was sent) and count towards the throttle."""
        failures = self.throttle.failed(address)
        if failures <= self.throttle.max_failures:
            log.warning(
                "console: failed sign-in (%s) from %s (%d in %gs)",
                how,
                address or "unknown address",
                failures,
                self.throttle.window,
            )
        elif failures == self.throttle.max_failures + 1:
            log.warning("console: sign-ins from %s throttled", address or "unknown address")

    # -- CSRF --

    def csrf_token(self, principal: Principal, customer_id: str, action: str) -> str:
        """Bound to the session (or the Bearer caller) and to the one action it confirms."""
        if not principal.session:
            return ""
        return _mac(self._key, "csrf", f"{principal.session}\0{customer_id}\0{action}")

    def csrf_ok(
        self,
        principal: Principal,
        customer_id: str,
        action: str,
        sent: str,
        headers: Any,
        host: str,
    ) -> bool:
        """May this state-changing request be the operator's own? See the module docstring."""
        origin = origin_of(headers, host)
        if origin == "cross":
            return False
        expected = self.csrf_token(principal, customer_id, action)
        token_ok = bool(expected) and hmac.compare_digest(expected, sent or "")
        if principal.via == "cookie":
            return token_ok
        if principal.via == "bearer":
            if not from_browser(headers):
                return True  # a script: nothing a browser sent on its own
            return token_ok or origin == "same"
        return False


def from_browser(headers: Any) -> bool:
    """A browser may have sent it: it carries cookies or fetch metadata (scripts send neither)."""
    return "Cookie" in headers or "Sec-Fetch-Site" in headers


def origin_of(headers: Any, host: str) -> str:
    """``same``, ``cross`` or ``absent``: the request's Origin (or Referer) against this host,
    and a browser's own verdict (``Sec-Fetch-Site``)."""
    fetch_site = headers.get("Sec-Fetch-Site", "")
    if fetch_site in ("cross-site", "same-site"):
        return "cross"
    origin = headers.get("Origin") or headers.get("Referer")
    if not origin:
        return "absent"
    if origin == "null":  # sandboxed frames, data: URLs
        return "cross"
    return "same" if urlsplit(origin).netloc == host else "cross"


def same_origin(headers: Any, host: str) -> bool:
    """Sign-in and sign-out forms: refused only when the browser says cross-site."""
    return origin_of(headers, host) != "cross"


def safe_next(target: str | None) -> str:
    """Where to go after login: only a path of the console (no open redirect)."""
    if target and target.startswith("/migrations") and "//" not in target and "\\" not in target:
        return target
    return "/migrations/"

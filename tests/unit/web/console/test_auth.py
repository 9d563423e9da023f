"""Console sessions, their expiry, sign-outs and the sign-in throttle (issue 24, findings 2, 3
and 7), on the real Authenticator with a clock the test moves."""

from __future__ import annotations

import hashlib
import hmac

from migration_app.web.console.auth import (
    SESSION_MAX_AGE,
    Authenticator,
    LoginThrottle,
    Principal,
    RevokedSessions,
    Role,
    Token,
)

OPS = "ops-alice:" + "o" * 40
READ = "carol:" + "r" * 40


class Clock:
    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def auth(clock: Clock, operator: str = OPS) -> Authenticator:
    return Authenticator(operator, READ, public=False, clock=clock)


def test_a_session_ends_on_the_server_after_its_max_age() -> None:
    clock = Clock()
    a = auth(clock)
    cookie = a.new_session(a.tokens[0])
    assert a.check_session(cookie) is not None
    clock.now += SESSION_MAX_AGE - 1
    assert a.check_session(cookie) is not None
    clock.now += 2
    assert a.check_session(cookie) is None  # whatever the browser still sends


def test_the_old_cookie_form_and_tampered_cookies_are_refused() -> None:
    clock = Clock()
    a = auth(clock)
    old = "ops-alice." + hmac.new(b"o" * 40, b"session\0ops-alice", hashlib.sha256).hexdigest()
    assert a.check_session(old) is None
    cookie = a.new_session(a.tokens[0])
    issued, nonce, rest = cookie.split(".", 2)
    for forged in (
        f"{int(issued) + 3600}.{nonce}.{rest}",  # a later issue time
        cookie.replace("ops-alice", "carol"),  # another name
        cookie[:-1] + ("0" if cookie[-1] != "0" else "1"),
        "",
    ):
        assert a.check_session(forged) is None, forged


def test_every_worker_with_the_same_tokens_accepts_a_session_and_rotation_ends_it() -> None:
    clock = Clock()
    cookie = auth(clock).new_session(auth(clock).tokens[0])
    other_worker = auth(clock)
    checked = other_worker.check_session(cookie)
    assert checked is not None and checked[0].name == "ops-alice"
    assert auth(clock, operator="ops-alice:" + "n" * 40).check_session(cookie) is None


def test_csrf_tokens_differ_per_session_customer_and_action() -> None:
    clock = Clock()
    a = auth(clock)
    one = a.principal({}, {"migration_console": a.new_session(a.tokens[0])})
    two = a.principal({}, {"migration_console": a.new_session(a.tokens[0])})
    assert one.via == two.via == "cookie" and one.name == two.name
    tokens = {
        a.csrf_token(one, "001A", "rollback"),
        a.csrf_token(two, "001A", "rollback"),
        a.csrf_token(one, "001B", "rollback"),
        a.csrf_token(one, "001A", "remigrate"),
    }
    assert len(tokens) == 4
    assert a.csrf_token(Principal("public", Role.READER, "public"), "001A", "rollback") == ""


def test_revoked_sessions_stay_bounded_and_fail_closed() -> None:
    clock = Clock()
    a = auth(clock)
    a.revoked = RevokedSessions(limit=3)
    cookies = []
    for _ in range(5):
        cookies.append(a.new_session(a.tokens[0]))
        clock.now += 1
    for cookie in cookies:
        assert a.end_session(cookie) is not None
    assert len(a.revoked) == 3
    assert all(a.check_session(cookie) is None for cookie in cookies)  # none came back
    fresh = a.new_session(a.tokens[0])
    assert a.check_session(fresh) is not None
    clock.now += SESSION_MAX_AGE + 10
    a.revoked.prune(clock.now)
    assert len(a.revoked) == 0


def test_the_throttle_counts_per_address_within_its_window_and_forgets_old_addresses() -> None:
    clock = Clock(0.0)
    throttle = LoginThrottle(max_failures=3, window=60, max_addresses=2, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    assert 59 <= throttle.retry_after("10.0.0.1") <= 60
    assert throttle.retry_after("10.0.0.2") == 0
    clock.now += 61
    assert throttle.retry_after("10.0.0.1") == 0
    for n in range(100):
        throttle.failed(f"10.1.0.{n}")
    assert len(throttle) == 2


def test_reprs_never_show_a_token() -> None:
    clock = Clock()
    a = auth(clock)
    token = a.tokens[0]
    principal = a.principal({"Authorization": f"Bearer {token.secret}"}, {})
    assert principal.can_act
    for shown in (repr(token), repr(principal), repr(a), repr(a.tokens), str(principal)):
        assert "o" * 40 not in shown and "r" * 40 not in shown, shown
    assert "secret" not in {f for f in Principal.__dataclass_fields__}
    assert repr(Token("n", "s" * 40, Role.READER)).count("s" * 40) == 0

"""Console sessions, CSRF and sign-ins (issue 24, findings 2, 3, 6 and 8), against the app from
``build(settings)`` served in this process: the web layer's own decisions, no Kafka needed.

Before: the cookie was the token's name plus an HMAC of the token (the same at every sign-in,
valid forever: the 8 hours lived in the browser's Max-Age only, and sign-out only asked the
browser to forget it); a Bearer request skipped CSRF even when a browser sent it; failed
sign-ins were neither logged nor slowed down; a rollback was one click.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import aiohttp
import pytest

from migration_app.web.console.auth import SESSION_COOKIE
from tests.integration.security.support import OPERATOR, READER, production_like, served

CUSTOMER = "001000000000042AAA"
NO_CONFIRMATION = "not confirmed"


def session() -> aiohttp.ClientSession:
    """No cookie jar: each request carries exactly the cookies the test gives it."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


async def sign_in(http: aiohttp.ClientSession, base: str, secret: str) -> str:
    async with http.post(
        base + "/migrations/login",
        data={"token": secret, "next": "/migrations/customers"},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303, await resp.text()
        return resp.cookies[SESSION_COOKIE].value


async def customers_status(http: aiohttp.ClientSession, base: str, cookie: str) -> int:
    async with http.get(
        base + "/migrations/customers?format=json", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}
    ) as resp:
        return resp.status


async def test_two_sign_ins_give_two_cookies_and_a_signed_out_cookie_stops_working(
    tmp_path: Path,
) -> None:
    async with served(production_like(tmp_path)) as (_, base), session() as http:
        first = await sign_in(http, base, OPERATOR[1])
        second = await sign_in(http, base, OPERATOR[1])
        assert first != second
        assert OPERATOR[1] not in first
        assert await customers_status(http, base, first) == 200
        async with http.post(
            base + "/migrations/logout",
            headers={"Cookie": f"{SESSION_COOKIE}={first}"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
        # the copied cookie, sent again after sign-out: refused by the server itself
        assert await customers_status(http, base, first) == 401
        assert await customers_status(http, base, second) == 200  # the other session lives


async def test_failed_sign_ins_are_logged_without_the_secret_and_throttled_per_address(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="migration_app.web.console")
    guesses = [f"guess-number-{n}-of-the-operator-token-xx" for n in range(5)]
    async with served(production_like(tmp_path)) as (_, base), session() as http:
        for guess in guesses:
            async with http.post(base + "/migrations/login", data={"token": guess}) as resp:
                assert resp.status == 401
        # the sixth try from the same address is refused before any check, right token or not
        async with http.post(base + "/migrations/login", data={"token": OPERATOR[1]}) as resp:
            assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
        async with http.get(
            base + "/migrations/customers?format=json",
            headers={"Authorization": f"Bearer {READER[1]}"},
        ) as resp:
            assert resp.status == 401  # Bearer guesses share the address's budget
    failures = [r.getMessage() for r in caplog.records if "failed sign-in" in r.getMessage()]
    assert len(failures) == 5 and all("127.0.0.1" in line for line in failures)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(guess in logged for guess in guesses) and OPERATOR[1] not in logged
    assert "throttled" not in logged or "127.0.0.1" in logged


async def post_action(
    http: aiohttp.ClientSession, base: str, action: str, form: dict[str, str], **headers: str
) -> tuple[int, str]:
    url = f"{base}/migrations/customers/{CUSTOMER}/actions/{action}"
    async with http.post(url, data=form, headers=headers, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def test_a_bearer_request_a_browser_may_have_sent_needs_the_csrf_token_or_its_origin(
    tmp_path: Path,
) -> None:
    """The README advised an auth proxy adding ``Bearer <token>`` for browsers: then any site's
    form post reached the action with Origin and Referer absent, and CSRF was skipped."""
    bearer = f"Bearer {OPERATOR[1]}"
    no_confirm: dict[str, str] = {}  # stops after the CSRF check: 400, nothing published
    async with served(production_like(tmp_path)) as (_, base), session() as http:
        host = base.removeprefix("http://")
        browser_without_token = [
            {"Authorization": bearer, "Cookie": "_ga=1"},
            {"Authorization": bearer, "Sec-Fetch-Site": "same-origin"},
            {"Authorization": bearer, "Sec-Fetch-Site": "cross-site", "Origin": base},
            {"Authorization": bearer, "Cookie": "_ga=1", "Origin": "https://evil.example"},
        ]
        for headers in browser_without_token:
            status, body = await post_action(http, base, "remigrate", no_confirm, **headers)
            assert status == 403 and "CSRF" in body, headers
        # the browser's own same-origin Origin, or a bare script: past the CSRF check
        for headers in (
            {"Authorization": bearer, "Cookie": "_ga=1", "Origin": f"http://{host}"},
            {"Authorization": bearer},
        ):
            status, body = await post_action(http, base, "remigrate", no_confirm, **headers)
            assert status == 400 and NO_CONFIRMATION in body, (headers, body)


async def test_csrf_tokens_are_bound_to_the_session(tmp_path: Path) -> None:
    async with served(production_like(tmp_path)) as (_, base), session() as http:
        first = await sign_in(http, base, OPERATOR[1])
        second = await sign_in(http, base, OPERATOR[1])
        csrf = await confirmation_csrf(http, base, first, "remigrate")
        form = {"csrf": csrf}  # no confirm=yes: a passing CSRF check answers 400
        status, body = await post_action(
            http, base, "remigrate", form, Cookie=f"{SESSION_COOKIE}={second}"
        )
        assert status == 403, body
        status, body = await post_action(
            http, base, "remigrate", form, Cookie=f"{SESSION_COOKIE}={first}"
        )
        assert status == 400 and NO_CONFIRMATION in body


async def confirmation_csrf(
    http: aiohttp.ClientSession, base: str, cookie: str, action: str
) -> str:
    async with http.get(
        f"{base}/migrations/customers/{CUSTOMER}/actions/{action}",
        headers={"Cookie": f"{SESSION_COOKIE}={cookie}"},
    ) as resp:
        page = await resp.text()
        assert resp.status == 200, page
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match, page
    return match[1]


async def test_a_console_rollback_needs_the_customer_id_typed(tmp_path: Path) -> None:
    async with served(production_like(tmp_path)) as (_, base), session() as http:
        cookie = await sign_in(http, base, OPERATOR[1])
        async with http.get(
            f"{base}/migrations/customers/{CUSTOMER}/actions/rollback",
            headers={"Cookie": f"{SESSION_COOKIE}={cookie}"},
        ) as resp:
            page = await resp.text()
        assert 'name="confirm_id"' in page and "Type the customer id" in page
        csrf = await confirmation_csrf(http, base, cookie, "rollback")
        for typed in ({}, {"confirm_id": "001000000000043AAA"}, {"confirm_id": ""}):
            status, body = await post_action(
                http,
                base,
                "rollback",
                {"csrf": csrf, "confirm": "yes", **typed},
                Cookie=f"{SESSION_COOKIE}={cookie}",
            )
            assert status == 400 and "type the customer id" in body, (typed, body)

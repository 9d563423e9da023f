"""Signing in and out: a console token, typed once in the login form, becomes an HttpOnly
SameSite=Strict session cookie; signing out ends the session on every worker."""

from __future__ import annotations

import logging

from faust.web import Blueprint, Request, Response

from migration_app.web.console.auth import (
    ANONYMOUS,
    COOKIE_PATH,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    safe_next,
    same_origin,
)
from migration_app.web.console.base import ConsoleView, client_address, redirect

log = logging.getLogger(__name__)

blueprint = Blueprint("console-session")


@blueprint.route("/login", name="login")
class LoginView(ConsoleView):
    async def get(self, request: Request) -> Response:
        principal = self.console.who(request)
        return self.console.render(
            self,
            "login.html",
            principal,
            next=safe_next(request.query.get("next")),
            message="",
        )

    async def post(self, request: Request) -> Response:
        console = self.console
        form = await request.post()  # type: ignore[attr-defined]
        target = safe_next(str(form.get("next", "")))
        if not same_origin(request.headers, request.headers.get("Host", "")):
            return self.json({"error": "cross-site login refused"}, status=403)
        address = client_address(request)
        wait = console.auth.throttle.retry_after(address)
        if wait:
            return console.render(
                self,
                "login.html",
                ANONYMOUS,
                status=429,
                headers={"Retry-After": str(max(1, round(wait)))},
                next=target,
                message="Too many failed sign-ins from your address: wait a minute.",
            )
        token = console.auth.by_secret(str(form.get("token", "")))
        if token is None:
            console.auth.failed_sign_in(address, "form")
            return console.render(
                self,
                "login.html",
                ANONYMOUS,
                status=401,
                next=target,
                message="That token is not valid.",
            )
        console.auth.throttle.succeeded(address)
        log.info("console: %s signed in from %s", token.name, address or "unknown address")
        response = redirect(self, target)
        response.set_cookie(  # type: ignore[attr-defined]
            SESSION_COOKIE,
            console.auth.new_session(token),
            path=COOKIE_PATH,
            max_age=SESSION_MAX_AGE,
            httponly=True,
            samesite="Strict",
            secure=request.headers.get("X-Forwarded-Proto") == "https"
            or request.url.scheme == "https",
        )
        return response


@blueprint.route("/logout", name="logout")
class LogoutView(ConsoleView):
    async def post(self, request: Request) -> Response:
        """The session ends here at once, on the other workers at their next sync."""
        if not same_origin(request.headers, request.headers.get("Host", "")):
            return self.json({"error": "cross-site sign-out refused"}, status=403)
        session = self.console.auth.end_session(request.cookies.get(SESSION_COOKIE, ""))
        if session is not None:
            await self.console.sessions.share(session)
            log.info("console: %s signed out", session.name)
        response = redirect(self, "/migrations/")
        response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)  # type: ignore[attr-defined]
        return response

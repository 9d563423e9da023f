"""The operator's actions on one customer: GET shows the confirmation step (a form with a CSRF
token), POST performs the action and records it in the action log. Re-migrate, dry run and
rollback publish an event (the owning worker does the work); verify runs here, now."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from faust.web import Blueprint, Request, Response

import migration_app.audit.console_queries as queries
from migration_app.audit.errors import AuditError
from migration_app.contracts.events import MIGRATE, ROLLBACK
from migration_app.verify.execution import audit_rows, verify_customers
from migration_app.web.console.auth import Principal
from migration_app.web.console.base import DB_TIMEOUT, Console, ConsoleView, redirect, wants_json
from migration_app.worker import publisher as enqueue

log = logging.getLogger(__name__)

ACTION_TIMEOUT = 20.0  # publishing an event (registry + broker)

blueprint = Blueprint("console-actions")


@dataclass(frozen=True)
class ActionSpec:
    """An operator action; ``available`` False shows it disabled with ``reason``."""

    name: str
    label: str
    description: str
    available: bool
    reason: str = ""
    #: the operator must type the customer id to confirm (an action that deletes V2 records)
    typed_confirmation: bool = False


ACTIONS: dict[str, ActionSpec] = {
    "remigrate": ActionSpec(
        "remigrate",
        "Re-migrate",
        "Publish a forced migration event: the customer is read from V1 and upserted into V2 "
        "again (by external id, so no duplicates), even if it is COMPLETED.",
        True,
    ),
    "dry_run": ActionSpec(
        "dry_run",
        "Dry run",
        "Publish a dry-run event: transform and validate without writing to V2.",
        True,
    ),
    "verify": ActionSpec(
        "verify",
        "Verify",
        "Re-read both orgs and compare field by field (as `migration-app verify`).",
        True,
    ),
    "rollback": ActionSpec(
        "rollback",
        "Rollback",
        "Delete what the migration created for this customer in V2 (as `migration-app "
        "rollback --yes`): the owning worker deletes, marks it ROLLED_BACK and audits it.",
        True,
        typed_confirmation=True,
    ),
}


def confirmation_problem(spec: ActionSpec, customer_id: str, form: Any) -> str:
    """'' when the operator confirmed the action; else what is missing. The typed customer id
    of a rollback is checked here, on the server: the form's ``required`` is only a hint."""
    if form.get("confirm") != "yes":
        return "not confirmed (send confirm=yes)"
    if spec.typed_confirmation and str(form.get("confirm_id", "")).strip() != customer_id:
        return (
            f"{spec.label} deletes this customer's V2 records: type the customer id to confirm "
            "(confirm_id)"
        )
    return ""


@blueprint.route("/customers/{customer_id}/actions/{action}", name="perform")
class ActionView(ConsoleView):
    """GET: the confirmation step (a form with a CSRF token). POST: do it, log it."""

    async def get(self, request: Request, customer_id: str, action: str) -> Response:
        console = self.console
        principal = console.who(request)
        spec = ACTIONS.get(action)
        if spec is None:
            return self.text("unknown action", status=404)
        if not principal.can_act:
            return self._forbidden(request, principal)
        return console.render(
            self,
            "confirm.html",
            principal,
            customer_id=customer_id,
            spec=spec,
            csrf=console.auth.csrf_token(principal, customer_id, action),
        )

    async def post(self, request: Request, customer_id: str, action: str) -> Response:
        console = self.console
        principal = console.who(request)
        spec = ACTIONS.get(action)
        if spec is None:
            return self.json({"error": "unknown action"}, status=404)
        if not principal.can_act:
            return self._forbidden(request, principal)
        form = await request.post()  # type: ignore[attr-defined]
        if not console.auth.csrf_ok(
            principal,
            customer_id,
            action,
            str(form.get("csrf", "")),
            request.headers,
            request.headers.get("Host", ""),
        ):
            return self.json({"error": "CSRF check failed: confirm from the form"}, status=403)
        problem = confirmation_problem(spec, customer_id, form)
        if problem:
            return self.json({"error": problem}, status=400)
        if not spec.available:
            return self.json({"error": f"{spec.label}: {spec.reason}"}, status=409)
        outcome, detail = "enqueued", ""
        try:
            async with asyncio.timeout(ACTION_TIMEOUT):
                if action == "verify":
                    outcome, detail = "verified", await verify_now(console, customer_id)
                else:
                    await enqueue.publish(
                        console.settings,
                        [customer_id],
                        force=action == "remigrate",
                        dry_run=action == "dry_run",
                        action=ROLLBACK if action == "rollback" else MIGRATE,
                        requested_by=f"console:{principal.name}",
                    )
        except Exception as exc:  # broker or registry down: say so, log it, keep serving
            outcome, detail = "failed", type(exc).__name__
        try:
            async with asyncio.timeout(DB_TIMEOUT):
                await queries.record_action(
                    console.runtime.audit,
                    actor=principal.name,
                    action=action,
                    customer_id=customer_id,
                    outcome=outcome,
                    detail=detail,
                )
        except (AuditError, TimeoutError) as exc:
            log.warning("console: action log write failed: %s", type(exc).__name__)
            outcome, detail = "failed", f"action log unavailable ({type(exc).__name__})"
        log.info("console: %s by %s: %s", action, principal.name, outcome)
        status = {"enqueued": 202, "verified": 200}.get(outcome, 503)
        if wants_json(request) or principal.via == "bearer":
            return self.json(
                {
                    "action": action,
                    "customer_id": customer_id,
                    "outcome": outcome,
                    "detail": detail or None,
                    "by": principal.name,
                },
                status=status,
            )
        query = urlencode({"done": f"{spec.label}: {outcome}"})
        return redirect(self, f"/migrations/customers/{customer_id}?{query}")

    def _forbidden(self, request: Request, principal: Principal) -> Response:
        if not self.console.auth.actions_enabled:
            message = "actions are disabled: no MIGRATION_OPERATOR_TOKEN is configured"
        else:
            message = "an operator token is required"
        if wants_json(request) or request.method == "POST":
            return self.json({"error": message}, status=403 if principal.can_read else 401)
        return self.console.render(
            self,
            "login.html",
            principal,
            status=403 if principal.can_read else 401,
            next=str(request.rel_url),
            message=message,
        )


async def verify_now(console: Console, customer_id: str) -> str:
    """Verify one customer now with the worker's clients; the verdict goes to the audit."""
    runtime = console.runtime
    (verdict,) = await verify_customers(
        [customer_id], runtime.spec, runtime.sf1, runtime.sf2, runtime.reference.snapshot()
    )
    await runtime.audit.record_verifications(audit_rows([verdict], "console"))
    return verdict.verdict

"""Sign-outs shared by the workers: a session cookie is checked by whichever worker the load
balancer picks, so ending it on one worker must end it on all.

The worker that signs a session out refuses it at once and writes its nonce to the audit
database (``console_session_revoked``); every worker reads the live rows every
``REVOCATION_SYNC_S`` seconds into its ``RevokedSessions``. A row lives until the session would
have expired anyway, so the set stays as small as the sign-outs of the last 8 hours.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mode import Service

import migration_app.audit.console_queries as queries
from migration_app.audit.errors import AuditError
from migration_app.audit.store import AuditStore
from migration_app.web.console.auth import MAX_REVOKED, REVOCATION_SYNC_S, Authenticator, Session

log = logging.getLogger(__name__)

QUERY_TIMEOUT = 3.0
FORGET_EVERY = 300  # syncs between deletions of expired rows (10 minutes)


class SessionSync(Service):
    """Keeps this worker's revoked sessions in step with the audit database."""

    def __init__(self, auth: Authenticator, audit: AuditStore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.auth = auth
        self.audit = audit
        self._syncs = 0
        self._failing = False

    @Service.timer(REVOCATION_SYNC_S)
    async def _sync(self) -> None:
        await self.sync()

    async def sync(self) -> None:
        """Merge the other workers' sign-outs; a failure is logged once, never raised."""
        if not self.audit.started:
            return
        try:
            async with asyncio.timeout(QUERY_TIMEOUT):
                rows = await queries.revoked_sessions(self.audit, MAX_REVOKED)
                self._syncs += 1
                if self._syncs % FORGET_EVERY == 0:
                    await queries.forget_expired_sessions(self.audit)
        except (AuditError, TimeoutError) as exc:
            if not self._failing:
                log.warning("console: sign-outs of other workers not read: %s", type(exc).__name__)
            self._failing = True
            return
        self._failing = False
        now = time.time()
        self.auth.revoked.prune(now)
        self.auth.revoked.merge(rows, now)

    async def share(self, session: Session) -> bool:
        """Tell the other workers (this one already refuses it). False when the database could
        not be written: the session then ends here only, until it expires."""
        try:
            async with asyncio.timeout(QUERY_TIMEOUT):
                await queries.revoke_session(
                    self.audit,
                    nonce=session.nonce,
                    issued_at=session.issued_at,
                    expires_at=session.expires_at,
                )
        except (AuditError, TimeoutError, RuntimeError) as exc:
            log.warning(
                "console: sign-out of %s not shared with the other workers: %s",
                session.name,
                type(exc).__name__,
            )
            return False
        return True

"""A sign-out on one worker ends the session on the others (issue 24, finding 2): the cookie is
checked by whichever worker the load balancer picks. Two workers' Authenticators and SessionSync
services over the session's real audit database."""

from __future__ import annotations

from migration_app.audit.store import AuditStore
from migration_app.client_config import audit_config
from migration_app.settings import Settings
from migration_app.web.console.auth import Authenticator
from migration_app.web.console.sessions import SessionSync

TOKENS = ("ops-alice:" + "o" * 40, "carol:" + "r" * 40)


async def test_a_session_signed_out_on_one_worker_is_refused_by_another(devstack) -> None:  # type: ignore[no-untyped-def]
    audit = AuditStore(audit_config(Settings.from_env(devstack.env()), pool_max=2))
    await audit.start()
    try:
        workers = [Authenticator(*TOKENS, public=False) for _ in range(2)]
        syncs = [SessionSync(auth, audit) for auth in workers]
        cookie = workers[0].new_session(workers[0].tokens[0])
        assert workers[1].check_session(cookie) is not None

        session = workers[0].end_session(cookie)
        assert session is not None and await syncs[0].share(session)
        assert workers[0].check_session(cookie) is None  # at once where it was signed out
        await syncs[1].sync()  # what the other worker's timer does every 2 s
        assert workers[1].check_session(cookie) is None
        # a worker that starts later learns it too
        late = Authenticator(*TOKENS, public=False)
        await SessionSync(late, audit).sync()
        assert late.check_session(cookie) is None
        assert late.check_session(late.new_session(late.tokens[0])) is not None
    finally:
        await audit.close()

"""The operator console: server-rendered Faust web views over the audit database.

- ``base``: the ``Console`` (what the views share, attached to the app) and ``ConsoleView``.
- ``root`` (``/``), ``overview``, ``customers``, ``actions``, ``session`` (login, logout),
  ``assets`` (templates, CSS, JS): the views, each module a blueprint; ``web.routes`` mounts them.
- ``overview_cache``: the overview's snapshot; ``heartbeat``: this worker's row in the audit
  database, which is how the overview sees the whole cluster.
- ``auth`` (tokens, sessions, CSRF, sign-in throttle), ``sessions`` (sign-outs shared by the
  workers), ``format`` (template filters).

``app.build`` makes the ``Console``, ``install``s its services, then mounts the routes.
"""

from __future__ import annotations

import logging

from migration_app.web.console.base import Console
from migration_app.web.console.heartbeat import HeartbeatService

__all__ = ["Console", "install"]

log = logging.getLogger(__name__)


def install(console: Console) -> None:
    """The console's services on its app: the heartbeat and the shared sign-outs."""
    console.app.service(HeartbeatService(console))
    console.app.service(console.sessions)  # sign-outs shared by the workers
    settings = console.settings
    if settings.console_public and not settings.dev_mode:
        log.warning(
            "MIGRATION_CONSOLE_PUBLIC=true outside dev mode: customer pages are served without "
            "a token; only do this behind the cluster's auth proxy"
        )

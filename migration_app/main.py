"""The module-level app: ``faust -A migration_app.main worker`` and ``migration-app worker``.

The only module that reads the environment when imported; everything else is built by
``migration_app.app.build(settings)``.
"""

from __future__ import annotations

from migration_app.app import build
from migration_app.settings import Settings

components = build(Settings.from_env())
app = components.app

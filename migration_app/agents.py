"""Agents: thin loops over streams. The migration pipeline replaces the placeholder below."""

from __future__ import annotations

import logging

from migration_app.app import app, customer_topic, migration_state
from migration_app.state import new_state

log = logging.getLogger(__name__)


@app.agent(customer_topic)
async def migrate(stream):  # type: ignore[no-untyped-def]
    """Placeholder until the pipeline lands: record that a customer event arrived."""
    async for event in stream.events():
        customer_id = (event.key or b"").decode("utf-8", "replace")
        if not customer_id:
            continue
        state = migration_state.get(customer_id) or new_state(customer_id)
        migration_state[customer_id] = state.derive(attempt=state.attempt)

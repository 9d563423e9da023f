"""Faust web views: /migrations/{customer_id} (table-routed)."""

from __future__ import annotations

from faust.web import Request, Response, View

from migration_app.app import app, migration_state


@app.page("/migrations/{customer_id}")
class MigrationView(View):
    """A customer's migration state, answered by the worker that owns its partition."""

    @app.table_route(table=migration_state, match_info="customer_id")
    async def get(self, request: Request, customer_id: str) -> Response:
        state = migration_state.get(customer_id)
        if state is None:
            return self.json({"customer_id": customer_id, "error": "unknown customer"}, status=404)
        return self.json(state.asdict())

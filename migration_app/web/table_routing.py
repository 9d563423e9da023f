"""Table-routed requests for module-level views: a customer's page or state is answered by the
worker that owns the customer's partition, the others forward the request to it.

Faust's ``@app.table_route`` needs the app when the class is defined; our views are defined at
import, on blueprints, before any app exists. ``at_owner`` makes the same call the decorator
makes (``app.router.route_req``, as Faust's own ``web/apps/tables.py`` view does), at request
time, from the view's own app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
from faust.exceptions import NotReady, SameNode
from faust.types import AppT, CollectionT
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable

from migration_app.compat import faust_internals

#: Routing failures that mean "ask again shortly": no owner known for the partition yet (Faust's
#: ServiceUnavailable), the producer not started, the changelog metadata not loaded in time, or
#: the owning worker unreachable (it is leaving the group). Anything else is a bug: 500 + stack.
ROUTING_UNAVAILABLE: tuple[type[BaseException], ...] = (
    ServiceUnavailable,
    NotReady,
    TimeoutError,
    aiohttp.ClientError,
)
ROUTING_METADATA_TIMEOUT = 2.0


async def at_owner(
    view: View,
    request: Request,
    table: CollectionT,
    key: str,
    here: Callable[[], Awaitable[Response]],
) -> Response:
    """The owner's answer for ``key``: forwarded (method, headers and path) to the worker that
    owns its partition, or ``here()`` when that is this worker. Raises ``ROUTING_UNAVAILABLE``
    errors while no owner is known or reachable."""
    await ensure_routing_metadata(view.app, table)
    try:
        return await view.app.router.route_req(table.name, key, view.web, request)
    except SameNode:
        return await here()


async def ensure_routing_metadata(app: AppT, table: CollectionT) -> None:
    """Routing hashes the key with the producer's partitioner, which needs the changelog topic
    in the producer's metadata; before the first table write it is not there (and the route
    fails). Asking for its partitions loads it; immediate once known."""
    producer = faust_internals.kafka_producer(app)
    topic = table.changelog_topic.get_topic_name()
    await asyncio.wait_for(producer.partitions_for(topic), timeout=ROUTING_METADATA_TIMEOUT)

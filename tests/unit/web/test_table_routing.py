"""``at_owner``: the call ``@app.table_route`` makes, for module-level views. The owner answers
(forwarded by Faust's router); this worker answers only when it is the owner."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.exceptions import SameNode

from migration_app.web.table_routing import at_owner


class Producer:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def partitions_for(self, topic: str) -> set[int]:
        self.asked.append(topic)
        return {0, 1}


class Router:
    def __init__(self, owner_answer: Any) -> None:
        self.owner_answer = owner_answer
        self.routed: list[tuple[str, str]] = []

    async def route_req(self, table_name: str, key: str, web: Any, request: Any) -> Any:
        self.routed.append((table_name, key))
        if self.owner_answer is None:
            raise SameNode()
        return self.owner_answer


def view_on(router: Router, producer: Producer) -> Any:
    app = SimpleNamespace(
        router=router, producer=SimpleNamespace(_ensure_producer=lambda: producer)
    )
    return SimpleNamespace(app=app, web=object())


TABLE = SimpleNamespace(
    name="migration_state",
    changelog_topic=SimpleNamespace(
        get_topic_name=lambda: "migration-app-migration_state-changelog"
    ),
)


@pytest.mark.parametrize("owner_answer", ["the owner's page", None])
async def test_the_owner_answers(owner_answer: str | None) -> None:
    router, producer = Router(owner_answer), Producer()
    calls: list[str] = []

    async def here() -> str:
        calls.append("here")
        return "this worker's page"

    answer = await at_owner(view_on(router, producer), object(), TABLE, "001A", here)  # type: ignore[arg-type]
    assert router.routed == [("migration_state", "001A")]
    assert producer.asked == ["migration-app-migration_state-changelog"]  # metadata first
    if owner_answer is None:  # this worker owns the key
        assert (answer, calls) == ("this worker's page", ["here"])
    else:  # forwarded: this worker does not render (nor read its table)
        assert (answer, calls) == (owner_answer, [])

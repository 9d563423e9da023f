"""/health never shows the orgs' live access tokens (issue 24, finding 7): they are configured
nowhere, so a scrubber that knew only the settings' secrets let them through. The app from
``build(settings)``, its V1 client logged in to the session's sandbox org."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from migration_app.app import build
from migration_app.settings import Settings


async def test_health_errors_never_show_a_live_access_token(devstack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.from_env(devstack.env())
    settings = dataclasses.replace(
        settings,
        data_dir=str(tmp_path),
        monitor_enabled=False,
        # the client is used without the runtime, which would lease the org budget's slots
        sf1=dataclasses.replace(settings.sf1, concurrent_requests=0),
    )
    components = build(settings)
    sf1 = components.runtime.sf1
    await sf1.start()
    try:
        await sf1.ping()  # logs in: the client now holds a session nobody configured
        token = sf1.access_token
        assert token and len(token) > 8
        opaque = token.split("!")[-1]  # what a dependency might echo without the org id

        async def leaky() -> None:
            raise RuntimeError(f"HTTP 401 for session {token}; retry with {opaque}")

        components.checks.register("leaky", leaky, critical=False)
        _, doc = await components.observability.health.report()
    finally:
        await sf1.close()
    shown = json.dumps(doc)
    assert "leaky" in doc and doc["leaky"]["status"] == "DOWN"
    assert token not in shown and opaque not in shown, doc["leaky"]

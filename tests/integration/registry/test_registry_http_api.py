"""The registry's HTTP surface: error bodies, content type, paths, flags, persistence, CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from devstack.registry_server import build_app
from devstack.registry_server.server import CONTENT_TYPE
from tests.unit.devstack.registry_server.compat_cases import TABLE

V1 = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}


async def call(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any, str]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.request(method, url + path, json=body) as response,
    ):
        text = await response.text()
        return response.status, json.loads(text) if text else None, response.content_type


def schema_body(schema: object) -> dict:
    return {"schema": json.dumps(schema)}


async def test_error_bodies_and_content_type(registry) -> None:
    url = registry.url
    status, body, ctype = await call(url, "GET", "/subjects/none/versions")
    assert (status, body["error_code"], ctype) == (404, 40401, CONTENT_TYPE)
    assert (await call(url, "GET", "/schemas/ids/77"))[1]["error_code"] == 40403
    status, body, _ = await call(url, "POST", "/subjects/s/versions", {"schema": "{oops"})
    assert (status, body["error_code"]) == (422, 42201)
    await call(url, "POST", "/subjects/s/versions", schema_body(V1))
    assert (await call(url, "GET", "/subjects/s/versions/5"))[1]["error_code"] == 40402
    assert (await call(url, "GET", "/subjects/s/versions/zero"))[1]["error_code"] == 42202
    status, body, _ = await call(url, "PUT", "/config", {"compatibility": "MAYBE"})
    assert (status, body["error_code"]) == (422, 42203)
    assert (await call(url, "GET", "/config/s"))[1]["error_code"] == 40408
    status, body, _ = await call(url, "GET", "/associations/resources/-/customer?resourceType=x")
    assert (status, body["error_code"]) == (404, 404)
    status, body, _ = await call(url, "GET", "/no/such/route")
    assert status == 404 and "error_code" in body


async def test_paths_flags_and_lookup(registry) -> None:
    url = registry.url
    status, body, _ = await call(url, "POST", "/subjects/s/versions", schema_body(V1))
    schema_id = body["id"]
    assert (await call(url, "GET", "/subjects/"))[1] == ["s"]
    for path in ("/config", "/config/"):
        assert (await call(url, "GET", path))[1] == {"compatibilityLevel": "BACKWARD"}
    assert (await call(url, "PUT", "/config/s/", {"compatibility": "full"}))[1] == {
        "compatibility": "FULL"
    }
    assert (await call(url, "GET", "/config/s"))[1] == {"compatibilityLevel": "FULL"}
    status, found, _ = await call(url, "POST", "/subjects/s", schema_body(V1))
    assert (status, found["id"], found["version"], found["subject"]) == (200, schema_id, 1, "s")
    assert (await call(url, "POST", "/subjects/nobody", schema_body(V1)))[1]["error_code"] == 40401
    assert (await call(url, "GET", f"/schemas/ids/{schema_id}/versions"))[1] == [
        {"subject": "s", "version": 1}
    ]
    assert (await call(url, "DELETE", "/subjects/s/versions/1?permanent=TRUE"))[1][
        "error_code"
    ] == 40407
    assert (await call(url, "DELETE", "/subjects/s"))[1] == [1]
    assert (await call(url, "GET", "/subjects?deleted=True"))[1] == ["s"]
    assert (await call(url, "GET", f"/schemas/ids/{schema_id}"))[0] == 200
    assert (await call(url, "DELETE", "/subjects/s?permanent=TRUE"))[1] == [1]
    assert (await call(url, "GET", f"/schemas/ids/{schema_id}"))[1]["error_code"] == 40403


async def test_compatibility_table_over_http(registry) -> None:
    url = registry.url
    for n, (level, old, new, expected) in enumerate(TABLE):
        subject = f"table-{n}"
        await call(url, "PUT", f"/config/{subject}", {"compatibility": "NONE"})
        for schema in old:
            status, body, _ = await call(
                url, "POST", f"/subjects/{subject}/versions", schema_body(schema)
            )
            assert status == 200, body
        await call(url, "PUT", f"/config/{subject}", {"compatibility": level})
        status, body, _ = await call(
            url,
            "POST",
            f"/compatibility/subjects/{subject}/versions?verbose=true",
            schema_body(new),
        )
        assert (status, body["is_compatible"]) == (200, expected), (n, body)
        status, body, _ = await call(url, "POST", f"/subjects/{subject}/versions", schema_body(new))
        assert status == (200 if expected else 409), (n, body)


async def test_persistence_keeps_ids(tmp_path: Path) -> None:
    data_file = tmp_path / "store.json"
    ids = []
    for _ in range(2):
        runner = web.AppRunner(build_app(data_file), handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            other = {**V1, "name": "Other"}
            if not ids:
                await call(url, "POST", "/subjects/first/versions", schema_body(other))
            ids.append((await call(url, "POST", "/subjects/s/versions", schema_body(V1)))[1]["id"])
            assert (await call(url, "GET", "/subjects"))[1] == ["first", "s"]
        finally:
            await runner.cleanup()
    assert ids == [2, 2]
    assert json.loads(data_file.read_text())["subjects"]["s"] == [[1, 2, False]]


def test_cli_prints_ready_and_stops_on_sigterm(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "devstack.registry_server",
        "--port",
        "0",
        "--data-file",
        str(tmp_path / "r.json"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # blocks until the flushed READY line (or EOF on crash)
        assert line.startswith("REGISTRY READY http://127.0.0.1:"), (line, proc.stderr.read())
        url = line.split()[-1]
        with urllib.request.urlopen(f"{url}/subjects", timeout=5) as response:
            assert json.loads(response.read()) == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        proc.stdout.close()
        proc.stderr.close()

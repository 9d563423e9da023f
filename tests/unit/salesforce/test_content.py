"""Streaming files through the real HTTP stack (requests + urllib3) against a local server: the
V1 download is read block by block into a multipart POST that carries an exact Content-Length
(never chunked), the bytes arrive identical, and the client holds a block, not the file."""

from __future__ import annotations

import hashlib
import json
import threading
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from simple_salesforce import Salesforce

from migration_app.salesforce.client import SalesforceClient, SalesforceSettings
from migration_app.salesforce.content import MultipartBody, StreamTruncated
from migration_app.salesforce.errors import SalesforcePermanentError

VERSION = "068A00000000001AAA"
SIZE = 24 * 1024 * 1024
PATTERN = bytes(range(256)) * 4096  # 1 MiB


class Server(ThreadingHTTPServer):
    daemon_threads = True
    received: dict


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if not self.path.endswith(f"/sobjects/ContentVersion/{VERSION}/VersionData"):
            self.send_response(404)
            body = json.dumps([{"errorCode": "NOT_FOUND", "message": "gone"}]).encode()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octetstream")
        self.send_header("Content-Length", str(SIZE))
        self.end_headers()
        for _ in range(SIZE // len(PATTERN)):
            self.wfile.write(PATTERN)

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        boundary = self.headers["Content-Type"].split("boundary=", 1)[1]
        digest, total, head, tail = hashlib.md5(), 0, b"", b""
        remaining = length
        while remaining:
            piece = self.rfile.read(min(remaining, 1 << 20))
            remaining -= len(piece)
            if len(head) < 4096:
                head += piece[:4096]
            tail = (tail + piece)[-4096:]
            total += len(piece)
            digest.update(piece)
        entity = head.split(b"\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0]
        self.server.received = {  # type: ignore[attr-defined]
            "length": length,
            "chunked": self.headers.get("Transfer-Encoding"),
            "fields": json.loads(entity),
            "parts": head.count(b"Content-Disposition"),
            "ends": tail.endswith(f"--{boundary}--\r\n".encode()),
        }
        body = json.dumps({"id": "068V2000000000001AAA", "success": True, "errors": []}).encode()
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


async def _client(server: Server) -> SalesforceClient:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    client = SalesforceClient(SalesforceSettings(name="test", url=url))
    await client.start()
    assert client._session is not None
    client._sf = Salesforce(
        session_id="token",
        instance=f"127.0.0.1:{server.server_address[1]}",
        session=client._session,
        version="66.0",
    )
    return client


async def test_a_file_streams_v1_to_v2_with_a_content_length_and_bounded_memory(server) -> None:
    client = await _client(server)
    try:
        tracemalloc.start()
        stream = await client.open_download(f"sobjects/ContentVersion/{VERSION}/VersionData")
        body = MultipartBody(
            {"Title": "big", "Legacy_Id__c": VERSION}, stream, SIZE, filename='big "x".bin'
        )
        result = await client.insert_blob_stream("ContentVersion", body)
        stream.close()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        await client.close()
    assert result["id"] == "068V2000000000001AAA"
    got = server.received
    assert got["length"] == len(body) and got["chunked"] is None
    assert got["fields"] == {"Title": "big", "Legacy_Id__c": VERSION}
    assert got["parts"] == 2 and got["ends"]
    assert body.sent == SIZE
    assert body.md5 == hashlib.md5(PATTERN * (SIZE // len(PATTERN))).hexdigest()
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes for a {SIZE}-byte file"


async def test_a_missing_file_is_a_permanent_error(server) -> None:
    client = await _client(server)
    try:
        with pytest.raises(SalesforcePermanentError, match="404"):
            await client.open_download("sobjects/ContentVersion/068A00000000009AAA/VersionData")
    finally:
        await client.close()


def test_a_short_stream_is_refused_rather_than_sent_short() -> None:
    class Short:
        def read(self, n: int = -1) -> bytes:
            return b""

    body = MultipartBody({"Title": "t"}, Short(), 10, filename="t")
    head = body.read(1 << 20)
    assert b'name="entity_content"' in head and b'name="VersionData"' in head
    with pytest.raises(StreamTruncated):
        body.read(1024)


def test_the_length_is_exact() -> None:
    class Source:
        def __init__(self) -> None:
            self.data = b"0123456789" * 1000

        def read(self, n: int = -1) -> bytes:
            piece, self.data = self.data[:n], self.data[n:]
            return piece

    body = MultipartBody({"Title": "t", "PathOnClient": "é.txt"}, Source(), 10_000, filename="é")
    out = b""
    while piece := body.read(777):
        out += piece
    assert len(out) == len(body)

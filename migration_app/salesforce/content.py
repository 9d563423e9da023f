"""Blob bodies for the REST API, streamed: a V1 download read piece by piece, and the multipart
request body that carries it to V2 without ever holding the file.

Salesforce takes a blob two ways (REST API guide, "Insert or Update Blob Data"): base64 inside
the JSON body (up to 37.5 MB encoded; the whole file sits in memory, encoded) or a multipart
``multipart/form-data`` body whose first part is the record's JSON (``entity_content`` for
ContentVersion) and whose second part is the raw bytes (named after the blob field,
``VersionData``), up to 2 GB. :class:`MultipartBody` is that body as a file-like object with an
exact length, so requests sends it with a ``Content-Length`` and reads it in blocks (urllib3:
16 KB at a time) straight from the V1 response: memory per file in flight is a block, not the
file.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any, Protocol

#: bytes read from V1 at a time when the body is read without a size
BLOCK = 64 * 1024


class Readable(Protocol):
    def read(self, n: int = -1) -> bytes: ...


class Download:
    """A V1 blob being read (a streamed ``requests.Response``): ``read(n)`` returns the next
    bytes as they arrive (each socket read bounded by the session's read timeout)."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self._raw = response.raw

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = BLOCK
        return self._raw.read(n, decode_content=True) or b""

    def close(self) -> None:
        self._response.close()


class StreamTruncated(OSError):
    """The V1 stream ended before the length the V2 request announced."""


class MultipartBody:
    """``multipart/form-data`` for a blob insert: the record's fields as JSON, then ``size``
    bytes read from ``source``. ``len()`` is exact (requests sends Content-Length, not chunked);
    ``md5`` is the hex digest of the bytes sent, ``sent`` how many. ``on_read(sent, size)`` is
    called after each block (progress, a test's fault point). Readable once."""

    def __init__(
        self,
        fields: dict[str, Any],
        source: Readable,
        size: int,
        *,
        filename: str,
        entity_part: str = "entity_content",
        blob_part: str = "VersionData",
        on_read: Callable[[int, int], None] | None = None,
    ) -> None:
        self.boundary = f"boundary_{uuid.uuid4().hex}"
        safe_name = filename.replace('"', "'").replace("\r", " ").replace("\n", " ")
        self._head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{entity_part}"\r\n'
            "Content-Type: application/json\r\n\r\n"
            f"{json.dumps(fields)}\r\n"
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{blob_part}"; filename="{safe_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._source = source
        self.size = size
        self.sent = 0
        self._head_at = 0
        self._tail_at = 0
        self._digest = hashlib.md5(usedforsecurity=False)
        self._on_read = on_read
        self.started = False

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def md5(self) -> str:
        return self._digest.hexdigest()

    def __len__(self) -> int:
        return len(self._head) + self.size + len(self._tail)

    def read(self, n: int = -1) -> bytes:
        self.started = True
        if n is None or n < 0:
            n = BLOCK
        if self._head_at < len(self._head):
            piece = self._head[self._head_at : self._head_at + n]
            self._head_at += len(piece)
            return piece
        if self.sent < self.size:
            piece = self._source.read(min(n, self.size - self.sent))
            if not piece:
                raise StreamTruncated(f"V1 stream ended after {self.sent} of {self.size} bytes")
            self.sent += len(piece)
            self._digest.update(piece)
            if self._on_read is not None:
                self._on_read(self.sent, self.size)
            return piece
        piece = self._tail[self._tail_at : self._tail_at + n]
        self._tail_at += len(piece)
        return piece

"""Files over HTTP: multipart/form-data inserts (entity_content + VersionData) streamed to disk,
JSON base64 inserts, VersionData downloads streamed with their Content-Type, the size limits,
an upload cut short, and the seeded V1 files read back byte-identical."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from devstack.sandbox import SandboxConfig, SandboxThread, files
from tests.integration.sandbox.support import admin

pytestmark = pytest.mark.integration

V = "/services/data/v59.0"


def _token(sandbox: SandboxThread) -> dict[str, str]:
    cfg = sandbox.state.org.config
    resp = requests.post(
        f"{sandbox.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
        },
        timeout=5,
    )
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


@pytest.fixture
def v2(tmp_path) -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig(org="v2", port=0, state_dir=str(tmp_path))) as sb:
        yield sb


def _multipart(entity: dict, data: bytes, name: str = "VersionData") -> dict:
    return {
        "entity_content": (None, json.dumps(entity), "application/json"),
        name: ("bill.pdf", data, "application/octet-stream"),
    }


def test_multipart_insert_and_streamed_download(v2: SandboxThread, tmp_path) -> None:
    auth = _token(v2)
    account = requests.post(
        f"{v2.url}{V}/sobjects/Account",
        json={"Name": "Acme", "Legacy_Id__c": "001A"},
        headers=auth,
        timeout=5,
    ).json()["id"]
    data = bytes(range(256)) * 4096 + b"tail"  # 1 MB and a bit
    entity = {
        "Title": "Bill",
        "PathOnClient": "bill.pdf",
        "Legacy_Id__c": "068A",
        "FirstPublishLocation": {"attributes": {"type": "Account"}, "Legacy_Id__c": "001A"},
    }
    resp = requests.post(
        f"{v2.url}{V}/sobjects/ContentVersion",
        files=_multipart(entity, data),
        headers=auth,
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    rid = resp.json()["id"]
    got = requests.get(
        f"{v2.url}{V}/sobjects/ContentVersion/{rid}/VersionData", headers=auth, timeout=10
    )
    assert got.status_code == 200 and got.content == data
    assert got.headers["Content-Type"] == "application/pdf"
    assert "Sforce-Limit-Info" in got.headers
    row = requests.get(
        f"{v2.url}{V}/query",
        params={
            "q": "SELECT Checksum, ContentSize, ContentDocumentId FROM ContentVersion "
            "WHERE Legacy_Id__c = '068A'"
        },
        headers=auth,
        timeout=5,
    ).json()["records"][0]
    assert row["Checksum"] == hashlib.md5(data).hexdigest() and row["ContentSize"] == len(data)
    links = requests.get(
        f"{v2.url}{V}/query",
        params={
            "q": "SELECT LinkedEntityId FROM ContentDocumentLink "
            f"WHERE LinkedEntityId = '{account}'"
        },
        headers=auth,
        timeout=5,
    ).json()["records"]
    assert len(links) == 1
    assert list((tmp_path / "files" / "incoming").iterdir()) == []  # the upload became the file
    stats = admin(v2, "GET", "stats")
    assert stats["by_endpoint"]["sobject_blob"] == 1  # counted like every API call
    # the same external id again: DUPLICATE_VALUE, and the upload is not kept
    again = requests.post(
        f"{v2.url}{V}/sobjects/ContentVersion",
        files=_multipart(entity, data),
        headers=auth,
        timeout=10,
    )
    assert again.status_code == 400 and again.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    assert list((tmp_path / "files" / "incoming").iterdir()) == []
    assert len(list((tmp_path / "files" / "files").iterdir())) == 1


def test_json_insert_and_limits(v2: SandboxThread, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = _token(v2)
    body = {"PathOnClient": "note.txt", "VersionData": base64.b64encode(b"hello").decode()}
    resp = requests.post(f"{v2.url}{V}/sobjects/ContentVersion", json=body, headers=auth, timeout=5)
    assert resp.status_code == 201, resp.text
    got = requests.get(
        f"{v2.url}{V}/sobjects/ContentVersion/{resp.json()['id']}/VersionData",
        headers=auth,
        timeout=5,
    )
    assert got.content == b"hello" and got.headers["Content-Type"].startswith("text/plain")
    monkeypatch.setattr(files, "JSON_BODY_MAX", 100)
    resp = requests.post(
        f"{v2.url}{V}/sobjects/ContentVersion",
        json={**body, "Description": "x" * 200},
        headers=auth,
        timeout=5,
    )
    assert resp.status_code == 413 and resp.json()[0]["errorCode"] == "MAXIMUM_SIZE_OF_DOCUMENT"
    monkeypatch.setattr(files, "MULTIPART_BLOB_MAX", 1000)
    resp = requests.post(
        f"{v2.url}{V}/sobjects/ContentVersion",
        files=_multipart({"PathOnClient": "big.pdf"}, b"x" * 5000),
        headers=auth,
        timeout=5,
    )
    assert resp.status_code == 400 and resp.json()[0]["errorCode"] == "MAXIMUM_SIZE_OF_DOCUMENT"
    assert list(v2.state.org.files.incoming.iterdir()) == []


def test_upload_cut_short_leaves_nothing(v2: SandboxThread) -> None:
    auth = _token(v2)
    host, port = v2.url.removeprefix("http://").split(":")
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="entity_content"\r\n'
        "Content-Type: application/json\r\n\r\n"
        '{"PathOnClient": "cut.pdf"}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="VersionData"; '
        'filename="cut.pdf"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    request = (
        f"POST {V}/sobjects/ContentVersion HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {auth['Authorization']}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + 10_000_000}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request + head + b"y" * 500_000)
    # the server notices the closed connection and removes the part it was writing: wait for
    # that (an empty folder alone could be seen before the server even began the upload)
    deadline = time.monotonic() + 30
    while v2.state.org.files.aborted_uploads < 1:
        assert time.monotonic() < deadline, "the server never noticed the upload was cut short"
        time.sleep(0.05)
    assert list(v2.state.org.files.incoming.iterdir()) == []
    assert v2.call(lambda: v2.state.org.store.counts()["ContentVersion"]) == 0


def test_seeded_v1_files_read_back(tmp_path) -> None:
    config = SandboxConfig(
        org="v1",
        port=0,
        customers=30,
        seed=5,
        file_rate=0.5,
        file_kb=(2, 16),
        state_dir=str(tmp_path),
    )
    with SandboxThread(config) as v1:
        auth = _token(v1)
        accounts = list(v1.state.customers)[:30]
        ids = ",".join(f"'{a}'" for a in accounts)
        links = requests.get(
            f"{v1.url}{V}/query",
            params={
                "q": f"SELECT ContentDocumentId, LinkedEntityId FROM ContentDocumentLink "
                f"WHERE LinkedEntityId IN ({ids})"
            },
            headers=auth,
            timeout=5,
        ).json()["records"]
        assert links
        docs = ",".join(f"'{d}'" for d in {link["ContentDocumentId"] for link in links})
        versions = requests.get(
            f"{v1.url}{V}/query",
            params={
                "q": f"SELECT Id, Checksum, ContentSize, VersionData FROM ContentVersion "
                f"WHERE ContentDocumentId IN ({docs}) AND IsLatest = true"
            },
            headers=auth,
            timeout=5,
        ).json()["records"]
        for version in versions:
            got = requests.get(f"{v1.url}{version['VersionData']}", headers=auth, timeout=5)
            assert hashlib.md5(got.content).hexdigest() == version["Checksum"]
            assert len(got.content) == version["ContentSize"]


def test_multipart_is_not_bound_by_the_json_limits(
    v2: SandboxThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file above the JSON limits goes through multipart/form-data (up to 2 GB)."""
    monkeypatch.setattr(files, "JSON_BODY_MAX", 1000)
    monkeypatch.setattr(files, "JSON_BLOB_MAX", 1000)
    data = b"z" * 50_000
    resp = requests.post(
        f"{v2.url}{V}/sobjects/ContentVersion",
        files=_multipart({"PathOnClient": "scan.jpg"}, data),
        headers=_token(v2),
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    body = base64.b64encode(data).decode()
    resp = requests.post(
        f"{v2.url}{V}/sobjects/ContentVersion",
        json={"PathOnClient": "scan.jpg", "VersionData": body},
        headers=_token(v2),
        timeout=10,
    )
    assert resp.status_code == 413

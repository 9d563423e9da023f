"""The Salesforce client: simple-salesforce behind timeouts, a bounded executor and retries.

simple-salesforce is synchronous and has no timeout argument. Every call here runs in this
client's own bounded thread pool (never on the event loop) over a requests.Session whose adapter
applies (connect, read) timeouts. Sessions are refreshed under a lock with a cap, because
simple-salesforce's own refresh is not thread-safe and SFType recurses forever on a persistent 401.
Every response's ``Sforce-Limit-Info`` is read so work can pause before the daily allocation ends.
With an :class:`~migration_app.salesforce.budget.OrgBudget`, every request waits for one of the
org's slots shared by all workers (``call`` is the one choke point), and an org answering
``REQUEST_LIMIT_EXCEEDED`` (ConcurrentPerOrgLongTxn) is waited out with backoff, never counted
against the retries.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
)
from simple_salesforce.util import exception_handler

from migration_app.backoff import backoff_delays
from migration_app.salesforce.budget import OrgBudget
from migration_app.salesforce.content import Download, MultipartBody, StreamTruncated
from migration_app.salesforce.errors import (
    SalesforceAuthError,
    SalesforcePermanentError,
    SalesforceRequestLimitError,
    SalesforceTransientError,
)
from migration_app.salesforce.http import HttpSettings, build_session
from migration_app.salesforce.login import LoginSettings, obtain_session, warn_if_legacy
from migration_app.settings import DEFAULT_API_VERSION, Secret

log = logging.getLogger(__name__)
T = TypeVar("T")

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


@dataclass(frozen=True)
class SalesforceSettings:
    """One org's connection settings (secrets are ``Secret``: masked in reprs)."""

    name: str
    url: str
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    security_token: Secret = field(default_factory=lambda: Secret(""))
    auth: str = "password"  # jwt | client_credentials | password (client_config sets it)
    client_id: str = ""
    client_secret: Secret = field(default_factory=lambda: Secret(""))
    private_key_file: str = ""
    api_version: str = DEFAULT_API_VERSION
    http: HttpSettings = field(default_factory=HttpSettings)
    max_workers: int = 8
    max_retries: int = 5
    backoff_base: float = 0.2
    backoff_cap: float = 5.0
    max_relogins: int = 3

    @property
    def login(self) -> LoginSettings:
        return LoginSettings(
            url=self.url,
            flow=self.auth,
            username=self.username,
            client_id=self.client_id,
            client_secret=self.client_secret,
            private_key_file=self.private_key_file,
            password=self.password,
            security_token=self.security_token,
        )


CallObserver = Callable[[str, str, int], None]  # (org, endpoint kind, HTTP status or 0)


def endpoint_kind(method: str, url: str) -> str:
    """A low-cardinality label for a Salesforce URL (metrics and call counting)."""
    path = urlsplit(url).path
    if "/Soap/" in path or "/oauth2/" in path:
        return "login"
    rest = path.split("/services/data/", 1)[-1].split("/", 1)[-1]
    head = rest.split("/", 1)[0]
    if head == "composite":
        return f"composite_{rest.split('/')[1]}" if rest.count("/") else "composite"
    if head == "sobjects":
        parts = [p for p in rest.split("/") if p]
        return "describe" if parts[-1:] == ["describe"] else f"sobjects_{method.lower()}"
    return head or "versions"


class SalesforceClient:
    """One org, one long-lived client: created at start, closed at stop, shared by all work."""

    def __init__(
        self,
        settings: SalesforceSettings,
        on_call: CallObserver | None = None,
        budget: OrgBudget | None = None,
    ) -> None:
        self.settings = settings
        #: the org's concurrency budget shared with the other workers (None: only max_workers)
        self.budget = budget
        self.name = settings.name
        self._on_call = on_call
        self._executor: ThreadPoolExecutor | None = None
        self._session: requests.Session | None = None
        self._sf: Salesforce | None = None
        self._login_lock = threading.Lock()
        self._generation = 0
        self.api_used: int | None = None
        self.api_max: int | None = None

    # lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        warn_if_legacy(self.name, self.settings.login)
        self._executor = ThreadPoolExecutor(
            max_workers=self.settings.max_workers, thread_name_prefix=f"salesforce-{self.name}"
        )
        self._session = build_session(self.settings.http, self.settings.url)
        self._session.hooks["response"].append(self._observe)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        if self._session is not None:
            self._session.close()
            self._session = None

    @property
    def api_remaining(self) -> int | None:
        if self.api_used is None or self.api_max is None:
            return None
        return self.api_max - self.api_used

    @property
    def access_token(self) -> str | None:
        """The current session id (OAuth access token), None before the first login: only for
        the scrubber that keeps it out of error text."""
        sf = self._sf
        return sf.session_id if sf is not None else None

    @property
    def instance_url(self) -> str | None:
        """The org's instance URL once logged in (None before): the base of record links."""
        sf = self._sf
        if sf is None:
            return None
        host = sf.sf_instance
        local = host.startswith(("127.0.0.1", "localhost"))
        return f"{'http' if local else 'https'}://{host}"

    # public calls ----------------------------------------------------------------------------
    async def query_all(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """All records of a SOQL query, following nextRecordsUrl, child pages included.

        ``include_deleted``: through the ``queryAll`` resource, which also returns the records
        in the recycle bin (``IsDeleted = true``). Its next pages are ``/query/{locator}`` URLs
        ("Although the nextRecordsUrl has query in the URL, it still provides remaining results
        from the initial QueryAll request": REST API guide, QueryAll), followed as given."""
        page = await self.call(lambda sf: sf.query(soql, include_deleted=include_deleted))
        records = list(page["records"])
        while not page.get("done", True):
            next_url = page["nextRecordsUrl"]
            page = await self.call(lambda sf, u=next_url: sf.query_more(u, identifier_is_url=True))
            records.extend(page["records"])
        for record in records:
            await self._complete_child_pages(record)
        return records

    async def _complete_child_pages(self, record: dict[str, Any]) -> None:
        for value in record.values():
            if isinstance(value, dict) and "records" in value and not value.get("done", True):
                page = value
                while not page.get("done", True):
                    next_url = page["nextRecordsUrl"]
                    page = await self.call(
                        lambda sf, u=next_url: sf.query_more(u, identifier_is_url=True)
                    )
                    value["records"].extend(page["records"])
                value["done"] = True

    async def upsert_collection(
        self,
        sobject: str,
        external_id_field: str,
        records: Sequence[dict[str, Any]],
        *,
        allow_duplicates: bool = False,
    ) -> list[dict[str, Any]]:
        """sObject Collections upsert (<= 200 records); per-record results in request order."""
        if len(records) > 200:
            raise ValueError("sObject Collections take at most 200 records per call")
        body = {"allOrNone": False, "records": list(records)}
        path = f"composite/sobjects/{sobject}/{external_id_field}"
        headers = duplicate_rule_headers(allow_duplicates)
        return await self.call(
            lambda sf: sf.restful(path, method="PATCH", json=body, headers=headers)
        )

    async def create_collection(
        self, records: Sequence[dict[str, Any]], *, allow_duplicates: bool = False
    ) -> list[dict[str, Any]]:
        """sObject Collections create (<= 200 records, each with ``attributes.type``, allOrNone
        false): per-record results in request order. Audit fields are accepted here (with the
        "Set Audit Fields upon Record Creation" permission), never on an upsert."""
        if len(records) > 200:
            raise ValueError("sObject Collections take at most 200 records per call")
        body = {"allOrNone": False, "records": list(records)}
        headers = duplicate_rule_headers(allow_duplicates)
        return await self.call(
            lambda sf: sf.restful("composite/sobjects", method="POST", json=body, headers=headers)
        )

    async def delete_collection(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """sObject Collections delete (<= 200 ids, allOrNone false): per-record results."""
        if len(ids) > 200:
            raise ValueError("sObject Collections delete takes at most 200 ids per call")
        params = {"ids": ",".join(ids), "allOrNone": "false"}
        return await self.call(
            lambda sf: sf.restful("composite/sobjects", method="DELETE", params=params)
        )

    async def composite_graph(
        self, payload: dict[str, Any], *, allow_duplicates: bool = False
    ) -> dict[str, Any]:
        """One ``composite/graph`` request (one API call, whatever it holds): each graph
        commits or rolls back as a whole."""
        headers = duplicate_rule_headers(allow_duplicates)
        return await self.call(
            lambda sf: sf.restful("composite/graph", method="POST", json=payload, headers=headers)
        )

    # blobs (files) ---------------------------------------------------------------------------
    async def download(self, path: str) -> bytes:
        """GET a blob whole (``sobjects/ContentVersion/{id}/VersionData``): small files only;
        retried like any call (nothing is consumed until it succeeds)."""

        def fetch(sf: Salesforce) -> bytes:
            response = sf.session.get(sf.base_url + path, headers=_blob_headers(sf))
            if response.status_code >= 300:
                exception_handler(response, path)
            return response.content

        return await self.call(fetch)

    async def open_download(self, path: str) -> Download:
        """GET a blob as a stream: returns once the headers are in; the caller reads the body
        (each read bounded by the read timeout) and closes it."""

        def fetch(sf: Salesforce) -> Download:
            response = sf.session.get(sf.base_url + path, headers=_blob_headers(sf), stream=True)
            if response.status_code >= 300:
                try:
                    exception_handler(response, path)
                finally:
                    response.close()
            return Download(response)

        return await self.call(fetch)

    async def insert_blob(
        self, sobject: str, fields: dict[str, Any], data: bytes, blob_field: str
    ) -> dict[str, Any]:
        """Create a record with its blob base64 in the JSON body (Salesforce: up to 37.5 MB
        encoded; the caller keeps it to small files). Retried: the bytes are in memory."""
        body = {**fields, blob_field: base64.b64encode(data).decode("ascii")}
        return await self.call(
            lambda sf: sf.restful(f"sobjects/{sobject}/", method="POST", json=body)
        )

    async def insert_blob_stream(self, sobject: str, body: MultipartBody) -> dict[str, Any]:
        """Create a record from a multipart body read as it is sent. Not retried here (the
        body is read once): a failure raises, and the caller starts over with a new download."""

        def post(sf: Salesforce) -> dict[str, Any]:
            if body.started:  # a re-login retry would send a half-read body
                raise SalesforceTransientError(f"{self.name}: blob stream already consumed")
            headers = {**sf.headers, "Content-Type": body.content_type}
            try:
                response = sf.session.post(
                    sf.base_url + f"sobjects/{sobject}/", data=body, headers=headers
                )
            except StreamTruncated as exc:
                raise SalesforceTransientError(f"{self.name}: {exc}") from None
            if response.status_code >= 300:
                exception_handler(response, sobject)
            return dict(response.json())

        return await self.call(post, retries=0)

    # Bulk API 2.0 ingest ----------------------------------------------------------------------
    async def bulk_create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST jobs/ingest``: an Open job (its ``id``, ``state``)."""
        return await self.call(lambda sf: sf.restful("jobs/ingest", method="POST", json=body))

    async def bulk_upload(self, job_id: str, csv_text: str) -> None:
        """``PUT jobs/ingest/{id}/batches``: the job's one upload (text/csv). Not retried: a
        second PUT on a job is refused, so a lost answer fails the call (the job is aborted)."""
        data = csv_text.encode()

        def put(sf: Salesforce) -> None:
            sf._call_salesforce(
                "PUT",
                f"{sf.base_url}jobs/ingest/{job_id}/batches",
                data=data,
                headers={"Content-Type": "text/csv"},
            )

        await self.call(put, retries=0)

    async def bulk_set_state(self, job_id: str, state: str) -> dict[str, Any]:
        """``PATCH jobs/ingest/{id}``: ``UploadComplete`` or ``Aborted``."""
        return await self.call(
            lambda sf: sf.restful(f"jobs/ingest/{job_id}", method="PATCH", json={"state": state})
        )

    async def bulk_job(self, job_id: str) -> dict[str, Any]:
        """``GET jobs/ingest/{id}``: state, numberRecordsProcessed, numberRecordsFailed."""
        return await self.call(lambda sf: sf.restful(f"jobs/ingest/{job_id}"))

    async def bulk_results(self, job_id: str, kind: str) -> str:
        """A job's ``successfulResults``, ``failedResults`` or ``unprocessedrecords`` CSV."""

        def get(sf: Salesforce) -> str:
            url = f"{sf.base_url}jobs/ingest/{job_id}/{kind}/"
            return sf._call_salesforce("GET", url, headers={"Accept": "text/csv"}).text

        return await self.call(get)

    async def tooling_query(self, soql: str) -> list[dict[str, Any]]:
        """A Tooling API query (setup metadata such as ValidationRule); first page only."""
        result = await self.call(lambda sf: sf.restful("tooling/query", params={"q": soql}))
        return list((result or {}).get("records") or [])

    async def describe(self, sobject: str) -> dict[str, Any]:
        return await self.call(lambda sf: sf.restful(f"sobjects/{sobject}/describe"))

    async def api_versions(self) -> list[str]:
        """The versions the org serves (``GET /services/data/``, outside the versioned base)."""

        def fetch(sf: Salesforce) -> list[str]:
            root = sf.base_url.split("/services/data/")[0]
            response = sf.session.get(f"{root}/services/data/", headers=sf.headers)
            if response.status_code != 200:
                raise SalesforceTransientError(f"{self.name}: HTTP {response.status_code}")
            return [str(item["version"]) for item in response.json()]

        return await self.call(fetch)

    async def limits(self) -> dict[str, Any]:
        return await self.call(lambda sf: sf.restful("limits/"))

    async def ping(self, probe_timeout: float = 2.0) -> None:
        """Health probe: one limits call (refreshes the remaining allocation), no retries, and a
        request timeout as short as the check's, so a hung org never pins an executor thread."""
        request_timeout = (min(self.settings.http.connect_timeout, probe_timeout), probe_timeout)
        call = self.call(
            lambda sf: sf.restful("limits/", timeout=request_timeout), retries=0, priority=True
        )
        if self.budget is None:
            await call
            return
        # first in the queue for a slot, and no longer than the probe may take
        async with asyncio.timeout(probe_timeout):
            await call

    # machinery -------------------------------------------------------------------------------
    async def call(
        self, fn: Callable[[Salesforce], T], *, retries: int | None = None, priority: bool = False
    ) -> T:
        """Run ``fn(sf)`` in the executor, holding one of the org's slots (budget) while it runs;
        retry transient failures with capped jittered backoff (no slot held while waiting).
        ``REQUEST_LIMIT_EXCEEDED`` for concurrent long-running requests is retried until the org
        takes the request (no retry cap, delays capped at ``backoff_cap``, no slot held while
        waiting): the org is busy, neither the request nor the customer is wrong.
        ``priority`` (health probes): first in line for a slot."""
        if self._executor is None:
            raise RuntimeError(f"Salesforce client {self.name} is not started")
        max_retries = self.settings.max_retries if retries is None else retries
        attempt = 0
        delays = backoff_delays(2 * self.settings.backoff_base, self.settings.backoff_cap)
        limit_delays = None
        while True:
            try:
                return await self._run(fn, priority=priority)
            except SalesforcePermanentError:
                raise
            except SalesforceRequestLimitError as exc:
                if self._on_call:
                    self._on_call(self.name, "request_limit_exceeded", 0)
                if exc.concurrent and max_retries > 0:
                    if limit_delays is None:
                        limit_delays = backoff_delays(
                            2 * self.settings.backoff_base, self.settings.backoff_cap
                        )
                    delay = next(limit_delays)
                    log.warning("%s: %s; the org is full, retry in %.2fs", self.name, exc, delay)
                    await asyncio.sleep(delay)
                    continue
                # the daily allocation: retried like any transient failure (the processor
                # pauses new work under MIGRATION_SF_API_FLOOR before it runs out)
                if attempt >= max_retries:
                    raise
                attempt += 1
                await asyncio.sleep(next(delays))
            except SalesforceTransientError as exc:
                if attempt >= max_retries:
                    raise
                attempt += 1
                delay = next(delays)
                log.info("%s: %s; retry %d in %.2fs", self.name, exc, attempt, delay)
                if self._on_call:
                    self._on_call(self.name, "retry", 0)
                await asyncio.sleep(delay)

    async def _run(self, fn: Callable[[Salesforce], T], *, priority: bool) -> T:
        loop = asyncio.get_running_loop()
        assert self._executor is not None
        budget = self.budget
        if budget is None:
            return await loop.run_in_executor(self._executor, self._call_sync, fn)
        await budget.acquire(priority=priority)
        try:
            future = self._executor.submit(self._call_sync, fn)
        except BaseException:
            budget.release()
            raise
        # The slot goes back when the thread is done with the request, not when the caller
        # stops waiting for it (a cancelled probe's request may still be running).
        future.add_done_callback(lambda _: _call_soon(loop, budget.release))
        return await asyncio.wrap_future(future)

    def _call_sync(self, fn: Callable[[Salesforce], T]) -> T:
        relogins = 0
        while True:
            sf, generation = self._client()
            try:
                return fn(sf)
            except SalesforceExpiredSession:
                relogins += 1
                if relogins > self.settings.max_relogins:
                    raise SalesforceTransientError(
                        f"{self.name}: session still invalid after {relogins - 1} re-logins"
                    ) from None
                self._login(stale_generation=generation)
            except SalesforceError as exc:
                raise _classify(self.name, exc) from None
            except requests.RequestException as exc:
                raise SalesforceTransientError(f"{self.name}: {type(exc).__name__}") from None

    def _client(self) -> tuple[Salesforce, int]:
        sf, generation = self._sf, self._generation
        if sf is None:
            self._login(stale_generation=generation)
            sf, generation = self._sf, self._generation
        assert sf is not None
        return sf, generation

    def _login(self, stale_generation: int) -> None:
        """Log in once for all threads that saw the same stale session."""
        with self._login_lock:
            if self._generation != stale_generation and self._sf is not None:
                return  # another thread already refreshed it
            s = self.settings
            assert self._session is not None
            try:
                session_id, instance = obtain_session(s.login, self._session, s.api_version)
            except SalesforceAuthenticationFailed as exc:
                raise _login_error(self.name, s.auth, exc) from None
            except requests.RequestException as exc:
                raise SalesforceTransientError(
                    f"{self.name}: login failed: {type(exc).__name__}"
                ) from None
            self._sf = Salesforce(
                session_id=session_id,
                instance=instance,
                session=self._session,
                version=s.api_version,
                # plain dicts: simple-salesforce's default (OrderedDict) decodes a batch's
                # query answer ~2x slower, and we never rely on key order
                object_pairs_hook=None,
            )
            self._generation += 1
            log.info("%s: logged in to %s", self.name, instance)

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """requests response hook: count every call and read the API allocation."""
        info = response.headers.get("Sforce-Limit-Info")
        if info and (match := _LIMIT_INFO.search(info)):
            self.api_used, self.api_max = int(match[1]), int(match[2])
        if self._on_call:
            kind = endpoint_kind(response.request.method or "GET", response.url)
            self._on_call(self.name, kind, response.status_code)


def _blob_headers(sf: Salesforce) -> dict[str, str]:
    """The session's headers, asking for the bytes as stored (no gzip: lengths stay exact)."""
    return {**sf.headers, "Accept-Encoding": "identity"}


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """From any thread: run ``callback`` on ``loop`` (unless the loop is gone)."""
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:
        pass  # the loop is closed: nothing waits for slots any more


def duplicate_rule_headers(allow_save: bool) -> dict[str, str]:
    """Migrated data often trips duplicate rules written for new data; allowSave lets it in
    (rules set to "Block" still block: that is Salesforce's decision, not ours)."""
    return {"Sforce-Duplicate-Rule-Header": "allowSave=true"} if allow_save else {}


def _login_error(org: str, flow: str, exc: SalesforceAuthenticationFailed) -> Exception:
    """OAuth errors (invalid_grant, invalid_client, ...) and SOAP faults are permanent, with
    Salesforce's description; a token endpoint answering 5xx is transient."""
    code = exc.code
    message = str(getattr(exc, "auth_message", "") or "").strip()
    if isinstance(code, int) and code >= 500:
        return SalesforceTransientError(f"{org}: login failed ({flow}): HTTP {code}")
    return SalesforceAuthError(f"{org}: login failed ({flow}): {code}: {message[:300]}")


def _classify(org: str, exc: SalesforceError) -> Exception:
    status = getattr(exc, "status", None)
    content = getattr(exc, "content", None)
    codes = _error_codes(content)
    if status is not None and "REQUEST_LIMIT_EXCEEDED" in codes:
        concurrent = "Concurrent" in str(content)  # "ConcurrentPerOrgLongTxn Limit exceeded."
        return SalesforceRequestLimitError(
            f"{org}: HTTP {status} REQUEST_LIMIT_EXCEEDED"
            + (" (concurrent long-running requests)" if concurrent else ""),
            concurrent=concurrent,
        )
    if status is not None and status >= 500:
        return SalesforceTransientError(f"{org}: HTTP {status} {' '.join(codes)}".strip())
    return SalesforcePermanentError(
        f"{org}: HTTP {status} {' '.join(codes) or type(exc).__name__}", status, content
    )


def _error_codes(content: Any) -> list[str]:
    if isinstance(content, list):
        return [str(item.get("errorCode")) for item in content if isinstance(item, dict)]
    if isinstance(content, dict) and "errorCode" in content:
        return [str(content["errorCode"])]
    return []

"""Redaction: connection strings for logs and URLs shown to operators, and credentials in error
text (``/health``, the console's dependency list). One definition for the whole product."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Query parameters that say where, never who: kept (a unix-socket DSN is useless without host).
_SAFE_PARAMS = frozenset({"host", "port", "dbname", "sslmode", "application_name"})


def redact_dsn(dsn: str) -> str:
    """Host and database of a DSN, for logs: the password and every query parameter but the
    harmless ones (host, port, ...) removed."""
    if "://" not in dsn:
        return "****"
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    netloc = f"{user}:****@{host}" if parts.password else (f"{user}@{host}" if user else host)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k in _SAFE_PARAMS])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def has_password(dsn: str) -> bool:
    """A non-empty password in the URL (``user:@host``, the embedded dev database's form,
    carries none)."""
    return "://" in dsn and bool(urlsplit(dsn).password)


# --- credentials in error text -----------------------------------------------------------------

#: A Salesforce session id (an OAuth access token): the 15/18-character org id, ``!``, the
#: secret half (``00D5g000004ABCD!AQ8AQH...``). Both halves go: the org id alone is harmless,
#: but a scrubber that stops at ``!`` leaves the part that logs in.
_SALESFORCE_SESSION = re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._=+/-]+")
_URL_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)([^:/@\s]*):([^@/\s]+)@")
#: ``key=value`` / ``key: value`` / ``"key": "value"`` where the key names a credential, also as
#: the last part of a longer name: ``client_secret``, ``refresh_token``, ``X-SFDC-Session``.
_KEY_VALUE = re.compile(
    r"(?i)\b((?:[a-z0-9]+[_-])*(?:password|passwd|pwd|token|secret|api[_-]?key|session_?id|sid"
    r"|sig|signature|sfdc[_-]session|assertion|private[_-]?key))"
    r"(\"?\s*[=:]\s*\"?)([^\"&\s,;}<]+)"
)
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|token|oauth)\s+[A-Za-z0-9._~+/=!-]{6,}")
_AUTH_HEADER = re.compile(
    r"(?i)\b(authorization\"?\s*[:=]\s*\"?)(?!bearer|basic|token|oauth)([^\"\s,;}]+)"
)
#: ``<sessionId>...</sessionId>`` in a SOAP login answer, and the like.
_XML_SECRET = re.compile(r"(?i)(<(?:\w+:)?(?:sessionId|password|token)>)[^<]*(</)")
MAX_ERROR_CHARS = 500
MIN_SECRET_CHARS = 4  # shorter known values would scrub ordinary words


class Scrubber:
    """Removes credentials from error text: every known secret value (the settings' ``Secret``
    fields, and the live access tokens ``live()`` returns at each call, such as the Salesforce
    clients' current sessions), URL passwords, credential ``key=value`` pairs, auth headers and
    Salesforce session ids; then bounds the length."""

    def __init__(
        self, secrets: Iterable[str] = (), live: Callable[[], Iterable[str | None]] | None = None
    ) -> None:
        self._secrets = {s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}
        self._live = live

    def _known(self) -> list[str]:
        values = set(self._secrets)
        if self._live is not None:
            for value in self._live():
                if value and len(value) >= MIN_SECRET_CHARS:
                    values.add(value)
                    # a session id's secret half logs in on its own: ``00D...!<this>``
                    _, bang, half = value.partition("!")
                    if bang and len(half) >= 8:
                        values.add(half)
        return sorted(values, key=len, reverse=True)  # a secret containing another goes first

    def __call__(self, text: str) -> str:
        text = text[: 4 * MAX_ERROR_CHARS]  # bounded work; the rest would be cut anyway
        for value in self._known():
            text = text.replace(value, "***")
        text = _SALESFORCE_SESSION.sub("***", text)
        text = _URL_USERINFO.sub(r"\1\2:***@", text)
        text = _XML_SECRET.sub(r"\1***\2", text)
        text = _KEY_VALUE.sub(r"\1\2***", text)
        text = _AUTH_SCHEME.sub(r"\1 ***", text)
        text = _AUTH_HEADER.sub(r"\1***", text)
        if len(text) > MAX_ERROR_CHARS:
            text = text[:MAX_ERROR_CHARS] + "..."
        return text

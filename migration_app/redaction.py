"""Redaction of connection strings for logs, URLs shown to operators and reprs (one definition)."""

from __future__ import annotations

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

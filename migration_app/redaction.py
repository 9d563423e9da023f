"""Redaction of connection strings for logs, URLs shown to operators and reprs (one definition)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_dsn(dsn: str) -> str:
    """Host and database of a DSN, for logs: password and query parameters removed."""
    if "://" not in dsn:
        return "****"
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    netloc = f"{user}:****@{host}" if parts.password else (f"{user}@{host}" if user else host)
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

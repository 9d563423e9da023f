"""Who a username is in an org: the conflict guard and verify tell the integration user's
writes (``LastModifiedById``) from people's by its Id."""

from __future__ import annotations

from typing import Any, Protocol


class QueryOrg(Protocol):
    async def query_all(self, soql: str) -> list[dict[str, Any]]: ...


def soql_string(text: str) -> str:
    """A SOQL string literal's content: backslashes and quotes escaped."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


async def user_id_of(org: QueryOrg, username: str | None) -> str | None:
    """A user's Id by Username (one query), or None when there is no username or no user."""
    if not username:
        return None
    rows = await org.query_all(f"SELECT Id FROM User WHERE Username = '{soql_string(username)}'")
    return str(rows[0]["Id"]) if rows else None

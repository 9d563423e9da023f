"""The error shape of the Salesforce REST API: a JSON list of {message, errorCode, fields}."""

from __future__ import annotations


class SfError(Exception):
    """An API error with its HTTP status; `errors` is what the body's list holds."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[str] | None = None,
        extra: dict | None = None,
    ):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []
        self.extra = extra or {}  # more keys of the error object (DUPLICATES_DETECTED's result)

    def body(self) -> list[dict]:
        return [
            {"message": self.message, "errorCode": self.code, "fields": self.fields, **self.extra}
        ]

    def collection_error(self) -> dict:
        """sObject Collections and composite/sobjects results say statusCode, not errorCode."""
        return {
            "statusCode": self.code,
            "message": self.message,
            "fields": self.fields,
            **self.extra,
        }


def not_found(message: str = "The requested resource does not exist") -> SfError:
    return SfError(404, "NOT_FOUND", message)


def entity_is_deleted() -> SfError:
    """A record in the recycle bin, addressed by its Id (404, as real orgs answer a GET, PATCH or
    DELETE of a deleted record: `[{"message":"entity is deleted","errorCode":
    "ENTITY_IS_DELETED","fields":[]}]`; quoted from client tests, not from the docs)."""
    return SfError(404, "ENTITY_IS_DELETED", "entity is deleted")


def malformed_query(message: str) -> SfError:
    return SfError(400, "MALFORMED_QUERY", message)

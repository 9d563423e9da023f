"""Errors of the schema registry client and the Avro codec: one hierarchy, so the agent decides
in one place (a leaf module: the client and the codec both raise them, neither imports the other).

* :class:`PoisonMessage` - permanent, the bytes are at fault; route to ``customer-dlq``.
* :class:`RegistryUnavailable` - transient, the registry could not be asked; retry with backoff.
* :class:`RegistryRejected` - the registry refused a write (incompatible/invalid schema); fatal
  at start-up, a deploy problem rather than a message problem.
"""

from __future__ import annotations


class CodecError(Exception):
    """Base of everything the codec and the registry client raise."""


class PoisonMessage(CodecError):
    """A message that can never be decoded; ``reason`` is a short stable code for metrics/DLQ."""

    def __init__(self, reason: str, message: str, schema_id: int | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.detail = message
        self.schema_id = schema_id


class SchemaNotFound(PoisonMessage):
    """The registry does not know the writer schema id (HTTP 404, error code 40403)."""

    def __init__(self, schema_id: int) -> None:
        super().__init__("unknown_schema_id", f"schema id {schema_id} not in registry", schema_id)


class RegistryUnavailable(CodecError):
    """Transient: timeout, refused connection, 5xx, auth failure. Retry with backoff."""


class RegistryRejected(CodecError):
    """The registry refused a request (e.g. 409 incompatible, 422 invalid schema)."""

    def __init__(self, status: int, error_code: int | None, message: str, subject: str) -> None:
        super().__init__(f"registry rejected {subject}: HTTP {status} ({error_code}) {message}")
        self.status = status
        self.error_code = error_code
        self.subject = subject


class EncodeError(CodecError, ValueError):
    """Our own record does not match our writer schema: a bug, never a DLQ case."""

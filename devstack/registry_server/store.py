"""The registry's state: schemas by global id, subjects with versions, compatibility config.

In-memory and synchronous (every method runs to completion inside one aiohttp handler, so the
event loop serialises them); :meth:`Store.snapshot`/:meth:`Store.restore` give the JSON document
the server persists. Errors carry Confluent's HTTP status and ``error_code``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import compatibility
from .canonical import InvalidSchema, ParsedSchema, parse


class RegistryError(Exception):
    """An error answer: HTTP status, Confluent error_code, message."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def subject_not_found(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


def version_not_found(version: Any) -> RegistryError:
    return RegistryError(404, 40402, f"Version {version} not found.")


def schema_not_found(detail: str = "Schema not found") -> RegistryError:
    return RegistryError(404, 40403, detail)


def invalid_schema(detail: str) -> RegistryError:
    return RegistryError(422, 42201, detail)


def invalid_version(version: Any) -> RegistryError:
    return RegistryError(
        422,
        42202,
        f"The specified version '{version}' is not a valid version id. Allowed values are "
        f'between [1, 2^31-1] and the string "latest"',
    )


def invalid_level(level: Any) -> RegistryError:
    return RegistryError(
        422,
        42203,
        f"Invalid compatibility level. Valid values are none, backward, forward, full, "
        f"backward_transitive, forward_transitive, and full_transitive (got {level!r})",
    )


@dataclass
class Version:
    version: int
    schema_id: int
    deleted: bool = False


@dataclass
class Subject:
    versions: list[Version] = field(default_factory=list)

    def live(self) -> list[Version]:
        return [v for v in self.versions if not v.deleted]

    def visible(self, deleted: bool) -> list[Version]:
        return self.versions if deleted else self.live()


def parse_version(raw: str) -> int | None:
    """``latest``/``-1`` -> None; a positive int -> int; anything else -> 42202."""
    if raw in ("latest", "-1"):
        return None
    try:
        number = int(raw)
    except ValueError:
        raise invalid_version(raw) from None
    if not 1 <= number <= 2**31 - 1:
        raise invalid_version(raw)
    return number


class Store:
    """All registry state; see the module docstring."""

    def __init__(self) -> None:
        self.schemas: dict[int, ParsedSchema] = {}
        self.ids_by_canonical: dict[str, int] = {}
        self.subjects: dict[str, Subject] = {}
        self.global_level = compatibility.DEFAULT_LEVEL
        self.subject_levels: dict[str, str] = {}

    # ---- schemas -------------------------------------------------------------------------
    @staticmethod
    def parse_request(body: Any) -> ParsedSchema:
        """Validate a request body ``{"schema": "...", "schemaType"?: ..., "references"?: ...}``."""
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise invalid_schema("Invalid schema: body needs a 'schema' string")
        schema_type = body.get("schemaType") or "AVRO"
        if str(schema_type).upper() != "AVRO":
            raise invalid_schema(f"Invalid schema type {schema_type}: this registry serves AVRO")
        if body.get("references"):
            raise invalid_schema("Schema references are not supported by this registry")
        try:
            return parse(body["schema"])
        except InvalidSchema as exc:
            raise invalid_schema(f"Invalid schema {exc}") from None

    def schema_by_id(self, schema_id: int) -> ParsedSchema:
        """Ids stay resolvable while any version (soft-deleted included) still uses them."""
        parsed = self.schemas.get(schema_id)
        if parsed is None or not self.versions_of_id(schema_id, deleted=True):
            raise schema_not_found(f"Schema {schema_id} not found")
        return parsed

    def versions_of_id(self, schema_id: int, deleted: bool = False) -> list[tuple[str, int]]:
        return [
            (name, v.version)
            for name, subject in sorted(self.subjects.items())
            for v in subject.visible(deleted)
            if v.schema_id == schema_id
        ]

    def _id_for(self, parsed: ParsedSchema) -> int:
        schema_id = self.ids_by_canonical.get(parsed.canonical)
        if schema_id is None:
            schema_id = max(self.schemas, default=0) + 1
            self.schemas[schema_id] = parsed
            self.ids_by_canonical[parsed.canonical] = schema_id
        return schema_id

    # ---- subjects ------------------------------------------------------------------------
    def subject_names(self, deleted: bool = False) -> list[str]:
        return sorted(n for n, s in self.subjects.items() if s.visible(deleted))

    def _subject(self, name: str, deleted: bool = False) -> Subject:
        subject = self.subjects.get(name)
        if subject is None or not subject.visible(deleted):
            raise subject_not_found(name)
        return subject

    def version_numbers(self, name: str, deleted: bool = False) -> list[int]:
        return [v.version for v in self._subject(name, deleted).visible(deleted)]

    def get_version(self, name: str, raw_version: str, deleted: bool = False) -> Version:
        number = parse_version(raw_version)
        subject = self._subject(name, deleted)
        candidates = subject.visible(deleted)
        if number is None:
            return candidates[-1]
        for v in candidates:
            if v.version == number:
                return v
        raise version_not_found(number)

    def register(self, name: str, parsed: ParsedSchema) -> int:
        """Same schema twice -> same id and no new version; else check compatibility first."""
        subject = self.subjects.setdefault(name, Subject())
        for v in subject.live():
            if self.schemas[v.schema_id].canonical == parsed.canonical:
                return v.schema_id
        messages = self.incompatibilities(name, parsed)
        if messages:
            if not subject.versions:
                del self.subjects[name]
            raise RegistryError(
                409,
                409,
                "Schema being registered is incompatible with an earlier schema "
                f'for subject "{name}", details: [{", ".join(messages)}]',
            )
        schema_id = self._id_for(parsed)
        number = max((v.version for v in subject.versions), default=0) + 1
        subject.versions.append(Version(number, schema_id))
        return schema_id

    def lookup(self, name: str, parsed: ParsedSchema, deleted: bool = False) -> Version:
        subject = self._subject(name, deleted)
        for v in reversed(subject.visible(deleted)):
            if self.schemas[v.schema_id].canonical == parsed.canonical:
                return v
        raise schema_not_found()

    def delete_subject(self, name: str, permanent: bool) -> list[int]:
        subject = self.subjects.get(name)
        if subject is None or not subject.versions:
            raise subject_not_found(name)
        if permanent:
            if subject.live():
                raise RegistryError(
                    404,
                    40405,
                    f"Subject '{name}' was not deleted first before being permanently deleted",
                )
            del self.subjects[name]
            self.subject_levels.pop(name, None)
            return [v.version for v in subject.versions]
        if not subject.live():
            raise RegistryError(
                404,
                40404,
                f"Subject '{name}' was soft deleted. Set permanent=true to delete permanently",
            )
        deleted = [v.version for v in subject.live()]
        for v in subject.versions:
            v.deleted = True
        return deleted

    def delete_version(self, name: str, raw_version: str, permanent: bool) -> int:
        number = parse_version(raw_version)
        subject = self._subject(name, deleted=permanent)
        candidates = subject.visible(permanent)
        if number is None:
            target = candidates[-1]
        else:
            target = next((v for v in candidates if v.version == number), None)
            if target is None:
                raise version_not_found(number)
        if permanent:
            if not target.deleted:
                raise RegistryError(
                    404,
                    40407,
                    f"Subject '{name}' Version {target.version} was not deleted "
                    "first before being permanently deleted",
                )
            subject.versions.remove(target)
            if not subject.versions:
                del self.subjects[name]
        else:
            target.deleted = True
        return target.version

    # ---- compatibility -------------------------------------------------------------------
    def level_for(self, name: str) -> str:
        return self.subject_levels.get(name, self.global_level)

    def incompatibilities(
        self, name: str, parsed: ParsedSchema, raw_version: str | None = None
    ) -> list[str]:
        """Check against the level's versions, or only against ``raw_version`` when given."""
        level = self.level_for(name)
        subject = self.subjects.get(name)
        live = subject.live() if subject else []
        if raw_version is not None:
            number = parse_version(raw_version)
            if not live:
                if number is None:
                    return []
                raise version_not_found(number)
            target = self.get_version(name, raw_version)
            previous = [self.schemas[target.schema_id]]
            level = level.removesuffix("_TRANSITIVE")
        else:
            previous = [self.schemas[v.schema_id] for v in live]
        return compatibility.check(level, parsed, previous)

    @staticmethod
    def normalise_level(body: Any) -> str:
        level = body.get("compatibility") if isinstance(body, dict) else None
        if not isinstance(level, str) or level.upper() not in compatibility.LEVELS:
            raise invalid_level(level)
        return level.upper()

    # ---- persistence ---------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "schemas": {str(i): p.canonical for i, p in sorted(self.schemas.items())},
            "subjects": {
                name: [[v.version, v.schema_id, v.deleted] for v in s.versions]
                for name, s in sorted(self.subjects.items())
            },
            "global_level": self.global_level,
            "subject_levels": dict(sorted(self.subject_levels.items())),
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]
        for raw_id, text in data.get("schemas", {}).items():
            parsed = parse(text)
            self.schemas[int(raw_id)] = parsed
            self.ids_by_canonical[parsed.canonical] = int(raw_id)
        for name, versions in data.get("subjects", {}).items():
            self.subjects[name] = Subject(
                [Version(int(v), int(i), bool(d)) for v, i, d in versions]
            )
        self.global_level = data.get("global_level", compatibility.DEFAULT_LEVEL)
        self.subject_levels = dict(data.get("subject_levels", {}))

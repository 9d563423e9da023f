"""Avro contracts of the service: the .avsc files next to this module and their subjects.

Subjects follow Confluent's TopicNameStrategy (``<topic>-value``); message keys are the customer
id as plain UTF-8 bytes (Kafka's StringSerializer), so keys have no schema.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

CUSTOMER_TOPIC = "customer"
RESULT_TOPIC = "customer-migrations"
DLQ_TOPIC = "customer-dlq"

CUSTOMER_SUBJECT = f"{CUSTOMER_TOPIC}-value"
RESULT_SUBJECT = f"{RESULT_TOPIC}-value"

_FILES = {
    CUSTOMER_SUBJECT: "customer_ready_for_migration.avsc",
    RESULT_SUBJECT: "customer_migration_result.avsc",
}


def subject_for(topic: str) -> str:
    """TopicNameStrategy: the value subject of a topic."""
    return f"{topic}-value"


@cache
def _load_text(filename: str) -> str:
    return resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")


def load_schema(subject: str) -> dict[str, Any]:
    """A fresh copy of the schema for a subject (callers may mutate it)."""
    try:
        filename = _FILES[subject]
    except KeyError:
        raise KeyError(f"no schema for subject {subject!r}; known: {sorted(_FILES)}") from None
    return json.loads(_load_text(filename))


def customer_schema() -> dict[str, Any]:
    """Writer/reader schema of ``customer`` (CustomerReadyForMigration)."""
    return load_schema(CUSTOMER_SUBJECT)


def result_schema() -> dict[str, Any]:
    """Writer/reader schema of ``customer-migrations`` (CustomerMigrationResult)."""
    return load_schema(RESULT_SUBJECT)


def app_schemas() -> dict[str, dict[str, Any]]:
    """Subject -> schema for every subject this app reads and writes (AvroCodec's input)."""
    return {subject: load_schema(subject) for subject in _FILES}

"""The packaged mapping for tests about something else than owners and record types.

Why: transform, plan and load tests build V1 records by hand without Owner/RecordType values;
they run on the packaged mapping's field and reference rules alone. The owner, record type and
CreatedDate rules are tested on the full packaged mapping in tests/unit/migration/
test_reference_rules.py and end to end in tests/integration/pipeline/test_reference_data_e2e.py.
"""

from __future__ import annotations

from dataclasses import replace

from migration_app.migration.spec import MappingSpec, load_mapping


def field_rules_only(spec: MappingSpec | None = None) -> MappingSpec:
    """`spec` (default: the packaged mapping) without owner, record type and CreatedDate rules."""
    spec = spec or load_mapping()
    objects = tuple(
        replace(o, owner_path=None, record_type=None, preserve_created_date=False)
        for o in spec.objects
    )
    return MappingSpec(objects=objects, source_path=spec.source_path)

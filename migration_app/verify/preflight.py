"""The work behind `migration-app preflight`: the mapping checked against both orgs' live
describe metadata before a migration (the pure check is ``migration/mapping_check.py``)."""

from __future__ import annotations

import asyncio

from migration_app.migration.mapping_check import (
    PreflightReport,
    check_mapping,
    gap_findings,
    reference_gaps,
)
from migration_app.migration.reference_rules import ReferenceData
from migration_app.migration.salesforce_ids import is_salesforce_id
from migration_app.migration.spec import MappingSpec, load_mapping
from migration_app.salesforce.client import SalesforceClient
from migration_app.salesforce.errors import SalesforcePermanentError, SalesforceTransientError
from migration_app.salesforce.org_clients import org_clients
from migration_app.settings import Settings
from migration_app.worker.reference_cache import reference_queries


async def run_preflight(settings: Settings) -> tuple[bool, str]:
    """(ok, report): both orgs described, the mapping checked against what they hold."""
    spec = load_mapping(settings.mapping_file or None)
    describes: dict[str, dict[str, dict]] = {"sf1": {}, "sf2": {}}
    lines = []
    async with org_clients(settings, role="cli-preflight") as clients:
        for org, client in clients.items():
            objects = [o.source if org == "sf1" else o.target for o in spec]
            if spec.files is not None:
                objects.append("ContentVersion")
            try:
                versions = await client.api_versions()
            except (SalesforcePermanentError, SalesforceTransientError) as exc:
                lines.append(f"{org}: cannot connect: {exc}")
                continue
            lines.append(
                f"{org}: API versions {', '.join(versions[-6:])} (last 6 of {len(versions)})"
            )
            if settings.sf_api_version not in versions:
                lines.append(
                    f"{org}: cannot use API {settings.sf_api_version} (MIGRATION_SF_API_VERSION):"
                    f" the org serves up to {versions[-1] if versions else 'none'}"
                )
                continue
            try:
                results = await asyncio.gather(*(client.describe(name) for name in objects))
            except (SalesforcePermanentError, SalesforceTransientError) as exc:
                lines.append(f"{org}: cannot read describe metadata: {exc}")
                continue
            describes[org] = dict(zip(objects, results, strict=True))
            lines.append(
                f"{org}: connected ({client.settings.url}), {len(objects)} objects described"
            )
            if org == "sf2":
                lines += await target_rule_warnings(client, objects)
        usable = not any("cannot" in line for line in lines) and all(describes.values())
        report = check_mapping(spec, describes["sf1"], describes["sf2"])
        if usable and spec.needs_reference_data:
            try:
                await check_reference_data(spec, clients["sf1"], clients["sf2"], report)
            except (SalesforcePermanentError, SalesforceTransientError) as exc:
                lines.append(f"cannot read users and record types: {exc}")
    if any("cannot" in line for line in lines) or not all(describes.values()):
        return False, "\n".join([*lines, "preflight FAILED: an org is unreachable or unusable"])
    verdict = "preflight OK" if report.ok else "preflight FAILED"
    return report.ok, "\n".join([*lines, report.render(), verdict])


async def check_reference_data(
    spec: MappingSpec, sf1: SalesforceClient, sf2: SalesforceClient, report: PreflightReport
) -> None:
    """Every V1 owner and record type against V2: declared targets exist, and each gap in use
    is reported with the number of records it touches (one COUNT() per gap and object)."""
    users_soql, types_soql = reference_queries(spec)
    v2 = ReferenceData.from_rows(
        spec.owners, await sf2.query_all(users_soql), await sf2.query_all(types_soql)
    )
    owner_key = spec.owners.match_on if spec.owners is not None else "Email"
    v1_users = await sf1.query_all(f"SELECT Id, {owner_key}, IsActive FROM User")
    v1_types = await sf1.query_all("SELECT Id, DeveloperName, SobjectType FROM RecordType")
    findings, gaps = reference_gaps(spec, v1_users, v1_types, v2)
    counts = {}
    for gap in gaps:
        if not is_salesforce_id(gap.v1_id):  # ids from V1's answer; still never unchecked SOQL
            raise SalesforcePermanentError(f"V1 returned a malformed id {gap.v1_id!r}")
        soql = f"SELECT COUNT() FROM {gap.v1_object} WHERE {gap.field} = '{gap.v1_id}'"
        result = await sf1.call(lambda sf, q=soql: sf.query(q))
        counts[(gap.v1_object, gap.field, gap.v1_id)] = int(result.get("totalSize") or 0)
    report.findings += findings + gap_findings(gaps, counts)


async def target_rule_warnings(client: SalesforceClient, objects: list[str]) -> list[str]:
    """Active duplicate and validation rules on the target objects: migrated data often trips
    rules written for new data (MIGRATION_ALLOW_DUPLICATE_SAVE; README "Load strategies")."""
    names = ", ".join(f"'{name}'" for name in objects)
    lines = []
    queries = (
        (
            "duplicate rule",
            client.query_all(
                "SELECT DeveloperName, SobjectType FROM DuplicateRule "
                f"WHERE IsActive = true AND SobjectType IN ({names})"
            ),
            lambda r: (r.get("SobjectType"), r.get("DeveloperName")),
        ),
        (
            "validation rule",
            client.tooling_query(
                "SELECT ValidationName, EntityDefinition.QualifiedApiName FROM ValidationRule "
                f"WHERE Active = true AND EntityDefinition.QualifiedApiName IN ({names})"
            ),
            lambda r: (
                (r.get("EntityDefinition") or {}).get("QualifiedApiName"),
                r.get("ValidationName"),
            ),
        ),
    )
    for kind, query, name_of in queries:
        try:
            rows = await query
        except (SalesforcePermanentError, SalesforceTransientError) as exc:
            lines.append(f"sf2: WARNING cannot list {kind}s: {exc}")
            continue
        for row in rows:
            sobject, rule = name_of(row)
            lines.append(f"sf2: WARNING active {kind} {rule} on {sobject}")
    return lines

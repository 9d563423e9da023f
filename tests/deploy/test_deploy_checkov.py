"""checkov over the rendered overlays and the Dockerfile: no failure left unexplained.

A check that does not apply to this service is skipped where the object is defined
(`checkov.io/skipN: CKV_K8S_xx=reason` annotations, `#checkov:skip=CKV_xx:reason` comments),
so the reason travels with the manifest. The checkov run itself is one session fixture.
"""

from __future__ import annotations

from typing import Any

import pytest

FRAMEWORKS = ("kubernetes", "dockerfile")


def by_framework(report: list[dict[str, Any]], framework: str) -> dict[str, Any]:
    found = [r for r in report if r.get("check_type") == framework]
    assert found, f"checkov produced no {framework} results"
    return found[0]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_checkov_scanned_and_nothing_failed(
    checkov_report: list[dict[str, Any]], framework: str
) -> None:
    result = by_framework(checkov_report, framework)
    summary = result["summary"]
    assert summary["resource_count"] > 0 and summary["passed"] > 0
    assert summary["parsing_errors"] == 0
    failed = [
        f"{c['check_id']} {c['check_name']} ({c['file_path']} {c['resource']})"
        for c in result["results"]["failed_checks"]
    ]
    assert not failed, "fix, or skip with a reason in the file:\n" + "\n".join(failed)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_skip_carries_a_reason(checkov_report: list[dict[str, Any]], framework: str) -> None:
    for check in by_framework(checkov_report, framework)["results"]["skipped_checks"]:
        reason = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason.split()) >= 5, f"{check['check_id']} skipped without a real reason"

"""benchmarks/files.py's arithmetic: Prometheus sums, the mapping without files, rates."""

from __future__ import annotations

from benchmarks.files import before_issue_27, metric_sum, rate, without_files
from migration_app.migration.spec import default_mapping_path, parse_mapping

METRICS = """# HELP migration_app_file_api_calls_total Salesforce calls made for files
# TYPE migration_app_file_api_calls_total counter
migration_app_file_api_calls_total{kind="download"} 10.0
migration_app_file_api_calls_total{kind="upload"} 11.0
migration_app_file_api_calls_created{kind="upload"} 1.7e9
migration_app_files_total{mode="multipart",result="uploaded"} 9.0
migration_app_files_total{mode="base64",result="uploaded"} 1.0
"""


def test_metric_sums_by_family_and_label() -> None:
    assert metric_sum(METRICS, "migration_app_file_api_calls_total") == 21.0
    assert metric_sum(METRICS, "migration_app_file_api_calls_total", 'kind="upload"') == 11.0
    assert metric_sum(METRICS, "migration_app_files_total") == 10.0
    assert metric_sum(METRICS, "migration_app_absent_total") == 0.0


def test_the_mapping_without_files_is_the_same_mapping_less_its_files() -> None:
    text = default_mapping_path().read_text()
    bare = parse_mapping(without_files(text))
    full = parse_mapping(text)
    assert bare.files is None and full.files is not None
    assert bare.objects == full.objects


def test_the_mapping_before_issue_27_has_no_service_history() -> None:
    text = default_mapping_path().read_text()
    before = parse_mapping(before_issue_27(text))
    full = parse_mapping(text)
    assert before.files is None and not before.follow_ups
    assert [o.source for o in before.objects] == ["Account", "Contact", "Case", "Meter__c"]
    assert not any(r.across_customers for o in before.objects for r in o.references)
    assert before.object("Case") == full.object("Case")


def test_rate() -> None:
    assert rate(500, 20) == 25.0 and rate(1, 0) is None

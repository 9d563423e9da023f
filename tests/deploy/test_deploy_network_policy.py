"""Who may reach the workers' web port (issue 24, finding 4): the NetworkPolicy admitted every pod
of every namespace to 6066, where the console and the table-routed views answer. Rendered per
overlay: the app's own workers, Prometheus in the monitoring namespace, and the ingress or auth
proxy, each by labels; nothing else, and no selector that matches everything."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.support import OVERLAYS, Manifest, one

pytestmark = pytest.mark.parametrize("overlay", OVERLAYS)


def peers(rendered: dict[str, list[Manifest]], overlay: str) -> list[dict[str, Any]]:
    policy = one(rendered[overlay], "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": 6066, "protocol": "TCP"}]
    return rule.get("from", [])


def test_every_peer_is_a_labelled_selector(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    found = peers(rendered, overlay)
    assert found, "no `from`: every pod of every namespace may connect"
    for peer in found:
        assert "ipBlock" not in peer, peer
        assert set(peer) <= {"podSelector", "namespaceSelector"} and peer, peer
        for selector in peer.values():
            # {} matches every pod (or every namespace); matchExpressions are not used here
            assert selector.get("matchLabels") and set(selector) == {"matchLabels"}, peer


def test_only_the_workers_monitoring_and_the_proxy_are_admitted(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    pod_labels = one(rendered[overlay], "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    found = peers(rendered, overlay)
    assert len(found) == 3, found
    own, monitoring, proxy = found
    # the workers themselves (table routing), in this namespace only
    assert set(own) == {"podSelector"}
    assert own["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert own["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
    # scrapes: one namespace, one kind of pod
    namespace = monitoring["namespaceSelector"]["matchLabels"]
    assert namespace == {"kubernetes.io/metadata.name": "monitoring"}
    assert monitoring["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "prometheus"
    # the ingress controller or auth proxy: its namespace and its pods, both named
    assert set(proxy) == {"namespaceSelector", "podSelector"}
    assert "kubernetes.io/metadata.name" in proxy["namespaceSelector"]["matchLabels"]
    assert proxy["podSelector"]["matchLabels"].get("app.kubernetes.io/name")
    assert proxy["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] not in (
        one(rendered[overlay], "StatefulSet")["metadata"]["namespace"],
        "monitoring",
    )

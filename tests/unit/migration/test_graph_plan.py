"""Composite Graph planning: one graph per customer, packed within Salesforce's limits."""

from __future__ import annotations

from typing import Any

import pytest

from migration_app.migration.customer_transform import CustomerPlan
from migration_app.migration.graph_plan import (
    MAX_GRAPHS_PER_REQUEST,
    MAX_NODES_PER_REQUEST,
    CustomerGraph,
    GraphNode,
    customer_graph,
    fits_one_graph,
    pack_requests,
)
from migration_app.migration.spec import load_mapping
from migration_app.migration.v2_state import V2Record
from migration_app.migration.write_plan import plan_writes
from tests.support.mapping import field_rules_only


@pytest.fixture(scope="module")
def spec():
    return field_rules_only(load_mapping())  # owners/record types: test_reference_rules.py


def plan(customer: str, contacts: int = 2, cases: int = 1) -> CustomerPlan:
    def rec(obj: str, legacy: str, **fields: Any) -> dict[str, Any]:
        return {"attributes": {"type": obj}, "Legacy_Id__c": legacy, **fields}

    parent = {"Legacy_Id__c": customer}
    return CustomerPlan(
        customer_id=customer,
        records_by_object={
            "Account": [rec("Account", customer, Name="A")],
            "Contact": [
                rec("Contact", f"{customer}-c{i}", Account=parent) for i in range(contacts)
            ],
            "Meter_Point__c": [],
            "Case": [rec("Case", f"{customer}-k{i}", Account=parent) for i in range(cases)],
        },
    )


def graph(customer: str, nodes: int, object_name: str = "Account") -> CustomerGraph:
    return CustomerGraph(
        customer,
        tuple(
            GraphNode(f"n{i}", object_name, "Legacy_Id__c", f"{customer}-{i}", {})
            for i in range(nodes)
        ),
    )


def test_a_first_attempts_graph_creates_parents_first_with_the_external_id_in_the_body(
    spec,
) -> None:
    g = customer_graph(plan("001A"), spec)
    assert [n.object for n in g.nodes] == ["Account", "Contact", "Contact", "Case"]
    first, second = g.payload("66.0")["compositeRequest"][:2]
    assert first["method"] == "POST"
    assert first["url"] == "/services/data/v66.0/sobjects/Account"
    assert first["body"]["Legacy_Id__c"] == "001A" and "attributes" not in first["body"]
    assert second["body"]["Account"] == {"Legacy_Id__c": "001A"}


def _existing(p, spec):
    """Writes for a customer whose every record V2 holds (a re-migration)."""
    found = {
        (obj.target, str(r[obj.external_id])): V2Record("a0X", "005A")
        for obj in spec.objects
        for r in p.records_by_object.get(obj.target, ())
    }
    return plan_writes(p, spec, found, "005A")


def test_a_customer_graph_is_parents_first_with_upserts_by_external_id(spec) -> None:
    g = customer_graph(_existing(plan("001A"), spec), spec)
    assert [n.object for n in g.nodes] == ["Account", "Contact", "Contact", "Case"]
    payload = g.payload("66.0")
    assert payload["graphId"] == "001A"
    first, second = payload["compositeRequest"][:2]
    assert first["method"] == "PATCH"
    assert first["url"] == "/services/data/v66.0/sobjects/Account/Legacy_Id__c/001A"
    assert "Legacy_Id__c" not in first["body"] and "attributes" not in first["body"]
    assert second["body"]["Account"] == {"Legacy_Id__c": "001A"}
    assert len({r["referenceId"] for r in payload["compositeRequest"]}) == 4


def test_external_ids_are_url_encoded_in_node_urls(spec) -> None:
    p = plan("001A", contacts=0, cases=0)
    p.records_by_object["Account"][0]["Legacy_Id__c"] = "a/b c"
    url = customer_graph(_existing(p, spec), spec).payload("66.0")["compositeRequest"][0]["url"]
    assert url.endswith("/Legacy_Id__c/a%2Fb%20c")


def test_requests_respect_the_graph_and_node_limits() -> None:
    graphs = [graph(f"c{i}", 7) for i in range(200)]
    requests = pack_requests(graphs)
    assert all(len(r.graphs) <= MAX_GRAPHS_PER_REQUEST for r in requests)
    assert all(r.node_count <= MAX_NODES_PER_REQUEST for r in requests)
    assert [g.graph_id for r in requests for g in r.graphs] == [g.graph_id for g in graphs]
    assert len(requests) == 3  # 500 // 7 = 71 graphs per request: ceil(200 / 71)


def test_small_graphs_are_capped_at_75_per_request() -> None:
    requests = pack_requests([graph(f"c{i}", 1) for i in range(160)])
    assert [len(r.graphs) for r in requests] == [75, 75, 10]


def test_node_types_per_request_are_capped() -> None:
    graphs = [graph(f"c{i}", 1, object_name=f"Obj{i}__c") for i in range(20)]
    requests = pack_requests(graphs)
    assert [len(r.graphs) for r in requests] == [15, 5]


def test_a_customer_over_500_nodes_does_not_fit_one_graph(spec) -> None:
    big = customer_graph(plan("001B", contacts=450, cases=60), spec)
    reason = fits_one_graph(big, spec)
    assert reason is not None and "511 records exceed the 500 nodes" in reason
    assert fits_one_graph(customer_graph(plan("001C"), spec), spec) is None
    with pytest.raises(ValueError):
        pack_requests([big])


def test_empty_graphs_are_skipped() -> None:
    assert pack_requests([graph("c0", 0)]) == []

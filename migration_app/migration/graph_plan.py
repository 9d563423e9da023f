"""Composite Graph plan: one graph per customer, graphs packed into as few requests as the
documented limits allow (pure: no I/O).

A graph commits or rolls back as a whole, so a customer is either entirely in V2 or not at all.
Salesforce's limits (REST API Developer Guide, "Composite Graph Limits"): at most 75 graphs and
500 nodes per request (counted across its graphs), 500 nodes and depth 15 per graph, and at most
15 different node types per request (a type is an sObject and a method: POST Account and PATCH
Account are two). A record new to V2 is created (``POST /sobjects/{Object}``, with its audit
fields: Salesforce sets them on create only); one already in V2 is upserted by external id
(``PATCH /sobjects/{Object}/{ExternalId}/{value}``, without them): ``write_plan`` decides.
Children keep pointing at their parent by the parent's external id, which Salesforce resolves
inside the graph's transaction (the parent node ran earlier in the same graph, or the parent was
already in V2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from migration_app.migration.customer_transform import CustomerPlan
from migration_app.migration.spec import MappingSpec
from migration_app.migration.write_plan import CustomerWrites, plan_writes

MAX_GRAPHS_PER_REQUEST = 75
MAX_NODES_PER_REQUEST = 500
MAX_NODES_PER_GRAPH = 500
MAX_NODE_TYPES_PER_REQUEST = 15
MAX_GRAPH_DEPTH = 15


@dataclass(frozen=True, slots=True)
class GraphNode:
    """One create or upsert in a customer's graph; ``record`` is what collections would send."""

    reference_id: str
    object: str
    external_id_field: str
    legacy_id: str
    record: dict[str, Any]
    create: bool = False

    @property
    def node_type(self) -> tuple[str, str]:
        return (self.object, "POST" if self.create else "PATCH")

    def subrequest(self, api_version: str) -> dict[str, Any]:
        """The node as the composite/graph resource takes it: a create carries its external id
        in the body, an upsert in the URL."""
        if self.create:
            return {
                "method": "POST",
                "url": f"/services/data/v{api_version}/sobjects/{self.object}",
                "referenceId": self.reference_id,
                "body": {k: v for k, v in self.record.items() if k != "attributes"},
            }
        body = {
            k: v for k, v in self.record.items() if k not in ("attributes", self.external_id_field)
        }
        return {
            "method": "PATCH",
            "url": (
                f"/services/data/v{api_version}/sobjects/{self.object}/"
                f"{self.external_id_field}/{quote(str(self.legacy_id), safe='')}"
            ),
            "referenceId": self.reference_id,
            "body": body,
        }


@dataclass(frozen=True, slots=True)
class CustomerGraph:
    """All of one customer's V2 records, parents before children."""

    customer_id: str
    nodes: tuple[GraphNode, ...]
    #: what the graph was built from (to plan the customer again after DUPLICATE_VALUE)
    writes: CustomerWrites | None = field(default=None, compare=False, repr=False)

    @property
    def graph_id(self) -> str:
        return self.customer_id

    def node_types(self) -> frozenset[tuple[str, str]]:
        return frozenset(node.node_type for node in self.nodes)

    def payload(self, api_version: str) -> dict[str, Any]:
        return {
            "graphId": self.graph_id,
            "compositeRequest": [node.subrequest(api_version) for node in self.nodes],
        }


@dataclass(frozen=True, slots=True)
class GraphRequest:
    """One composite/graph call: graphs whose totals stay within the request limits."""

    graphs: tuple[CustomerGraph, ...]

    @property
    def node_count(self) -> int:
        return sum(len(g.nodes) for g in self.graphs)

    def payload(self, api_version: str) -> dict[str, Any]:
        return {"graphs": [graph.payload(api_version) for graph in self.graphs]}


def customer_graph(plan: CustomerPlan | CustomerWrites, spec: MappingSpec) -> CustomerGraph:
    """The customer's writes as graph nodes in the spec's load order (parents first); a bare
    plan is taken as a first attempt (every record created)."""
    writes = plan if isinstance(plan, CustomerWrites) else plan_writes(plan, spec, None, None)
    nodes = []
    for obj in spec.objects:
        for index, write in enumerate(writes.by_object(obj.target)):
            nodes.append(
                GraphNode(
                    reference_id=f"{obj.target.replace('__', '_')}_{index}",
                    object=obj.target,
                    external_id_field=obj.external_id,
                    legacy_id=write.legacy_id,
                    record=write.record,
                    create=write.create,
                )
            )
    return CustomerGraph(writes.customer_id, tuple(nodes), writes)


def fits_one_graph(graph: CustomerGraph, spec: MappingSpec) -> str | None:
    """None if the customer fits a single graph, else the reason it does not."""
    if len(graph.nodes) > MAX_NODES_PER_GRAPH:
        return (
            f"{len(graph.nodes)} records exceed the {MAX_NODES_PER_GRAPH} nodes of one "
            f"composite graph"
        )
    if len(graph.node_types()) > MAX_NODE_TYPES_PER_REQUEST:
        return f"{len(graph.node_types())} object types exceed {MAX_NODE_TYPES_PER_REQUEST}"
    depth = 1 + max((spec.level(spec.by_target(n.object).source) for n in graph.nodes), default=0)
    if depth > MAX_GRAPH_DEPTH:
        return f"depth {depth} exceeds the {MAX_GRAPH_DEPTH} levels of one composite graph"
    return None


def pack_requests(
    graphs: Sequence[CustomerGraph],
    *,
    max_graphs: int = MAX_GRAPHS_PER_REQUEST,
    max_nodes: int = MAX_NODES_PER_REQUEST,
    max_node_types: int = MAX_NODE_TYPES_PER_REQUEST,
) -> list[GraphRequest]:
    """Graphs in order, each request filled until the next graph would break a limit.

    Every graph must fit a request on its own (``fits_one_graph``). First fit in order keeps a
    batch's customers together and is within one request of optimal for these sizes (a
    customer is a few to a few dozen nodes against a 500-node request).
    """
    packed: list[GraphRequest] = []
    current: list[CustomerGraph] = []
    nodes = 0
    types: set[str] = set()
    for graph in graphs:
        if not graph.nodes:
            continue
        if len(graph.nodes) > max_nodes or len(graph.node_types()) > max_node_types:
            raise ValueError(f"graph {graph.graph_id} cannot fit one request")
        new_types = types | graph.node_types()
        if current and (
            len(current) >= max_graphs
            or nodes + len(graph.nodes) > max_nodes
            or len(new_types) > max_node_types
        ):
            packed.append(GraphRequest(tuple(current)))
            current, nodes, new_types = [], 0, set(graph.node_types())
        current.append(graph)
        nodes += len(graph.nodes)
        types = new_types
    if current:
        packed.append(GraphRequest(tuple(current)))
    return packed

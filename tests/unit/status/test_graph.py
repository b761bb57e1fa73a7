"""The dependency graph the app page draws and ``/api/v1/graph`` serves: nodes, edges, the
workload's implicit edges, shared resources, and a layered layout that is deterministic."""

from __future__ import annotations

import json
from typing import Any

from reconciler.status.graph import LAYER_GAP, MARGIN, NODE_WIDTH, build_graph


def _document(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"app": "shop", "resources": resources}


def _resource(uid: str, type_: str, state: str = "active") -> dict[str, Any]:
    return {"uid": uid, "type": type_, "state": state, "provider": "p", "workflow": "w"}


DB = "postgres.default#shop.db"
CACHE = "redis.default#shop.cache"
ROUTE = "route.default#shop.route"
DNS = "dns.default#shared-dns"
WORKLOAD = "workload.default#shop"


def _shop() -> dict[str, Any]:
    return _document(
        db=_resource(DB, "postgres"),
        cache=_resource(CACHE, "redis", "provisioning"),
        route=_resource(ROUTE, "route", "failed"),
        dns=_resource(DNS, "dns"),
        workload=_resource(WORKLOAD, "workload", "requested"),
    )


def test_a_reference_between_resources_is_an_edge_from_the_used_to_the_user() -> None:
    graph = build_graph(_shop(), depends_on={ROUTE: [DB, DNS]}, shared={DNS})

    edges = {(e["from"], e["to"]) for e in graph["edges"]}
    assert (DB, ROUTE) in edges
    assert (DNS, ROUTE) in edges
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes[DNS]["shared"] is True
    assert nodes[DB]["shared"] is False
    assert nodes[ROUTE]["state"] == "failed"
    assert nodes[ROUTE]["name"] == "route"


def test_the_workload_waits_for_every_other_resource_when_it_recorded_no_dependency() -> None:
    graph = build_graph(_shop(), depends_on={ROUTE: [DB]}, shared={DNS})

    into_workload = {e["from"] for e in graph["edges"] if e["to"] == WORKLOAD}
    assert into_workload == {DB, CACHE, ROUTE, DNS}
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes[WORKLOAD]["workload"] is True
    assert nodes[WORKLOAD]["layer"] == 2  # after route, which is after db


def test_layers_follow_the_longest_chain_and_boxes_never_overlap() -> None:
    graph = build_graph(_shop(), depends_on={ROUTE: [DB], WORKLOAD: [ROUTE, CACHE]}, shared=())

    nodes = {n["id"]: n for n in graph["nodes"]}
    assert [nodes[u]["layer"] for u in (DB, CACHE, DNS, ROUTE, WORKLOAD)] == [0, 0, 0, 1, 2]
    assert nodes[ROUTE]["x"] == MARGIN + NODE_WIDTH + LAYER_GAP
    boxes = {(n["x"], n["y"]) for n in graph["nodes"]}
    assert len(boxes) == len(graph["nodes"])
    assert graph["width"] >= max(n["x"] + n["width"] for n in graph["nodes"])
    assert graph["height"] >= max(n["y"] + n["height"] for n in graph["nodes"])


def test_the_same_document_always_gives_the_same_picture() -> None:
    depends = {ROUTE: [DNS, DB]}
    first = build_graph(_shop(), depends_on=depends, shared={DNS})
    shuffled = _document(**dict(reversed(list(_shop()["resources"].items()))))
    second = build_graph(shuffled, depends_on={ROUTE: [DB, DNS]}, shared={DNS})

    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_a_dependency_outside_the_app_or_a_cycle_is_drawn_without_looping() -> None:
    looped = build_graph(
        _document(a=_resource("t.default#shop.a", "t"), b=_resource("t.default#shop.b", "t")),
        depends_on={
            "t.default#shop.a": ["t.default#shop.b", "t.default#other.x"],
            "t.default#shop.b": ["t.default#shop.a"],
        },
    )

    assert len(looped["nodes"]) == 2
    assert all(e["from"] != "t.default#other.x" for e in looped["edges"])


def test_an_app_without_resources_has_an_empty_graph() -> None:
    graph = build_graph(_document(), depends_on={})
    assert graph["nodes"] == []
    assert graph["edges"] == []
    assert graph["app"] == "shop"

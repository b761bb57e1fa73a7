"""An app's dependency graph, as ``/api/v1/graph?app=`` serves it and the app page draws it.

Pure: built from the app's status document (its resources with state, provider and workflow)
and what the store recorded of each resource beyond it (the UIDs it depends on, whether it is
shared). Nodes are the app's resources, shared ones and the workload resource included; an
edge ``a -> b`` says ``b`` uses ``a`` (``${resources.a.host}`` in ``b``'s params), so ``a`` is
created first. The workload resource waits for every other resource of its app, so when the
store recorded no dependency of its own, it depends on all of them.

The layout is layered and deterministic (the same document gives the same picture, byte for
byte): a node's layer is the length of the longest dependency chain below it; within a layer,
nodes are ordered by the mean position of what they depend on, then by name.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

NODE_WIDTH = 200
NODE_HEIGHT = 48
LAYER_GAP = 80
ROW_GAP = 24
MARGIN = 16
WORKLOAD_TYPE = "workload"


def _layers(names: Sequence[str], deps: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Longest chain of dependencies below each node; a cycle (never valid, but drawn
    rather than looped on) is cut where it closes. Iterative: a chain of thousands of
    resources is no recursion limit."""
    layer: dict[str, int] = {}
    for root in names:
        if root in layer:
            continue
        stack = [(root, iter(deps.get(root, ())))]
        visiting = {root}
        below = {root: -1}
        while stack:
            name, children = stack[-1]
            for child in children:
                if child in layer:
                    below[name] = max(below[name], layer[child])
                elif child not in visiting:  # a child being visited closes a cycle: cut
                    visiting.add(child)
                    below[child] = -1
                    stack.append((child, iter(deps.get(child, ()))))
                    break
            else:
                stack.pop()
                visiting.discard(name)
                layer[name] = 1 + below.pop(name)
                if stack:
                    parent = stack[-1][0]
                    below[parent] = max(below[parent], layer[name])
    return layer


def build_graph(
    document: Mapping[str, Any],
    *,
    depends_on: Mapping[str, Sequence[str]],
    shared: Collection[str] = (),
) -> dict[str, Any]:
    """``document``: the app's status document; ``depends_on``: resource UID -> the UIDs it
    depends on; ``shared``: UIDs of shared resources. Returns ``{app, nodes, edges, width,
    height}``; each node has its resource name, UID, type, state, provider/workflow, flags
    and its box (``x``, ``y``, ``width``, ``height``); each edge the UIDs it joins and an SVG
    path from the right side of one box to the left side of the other."""
    resources: Mapping[str, Mapping[str, Any]] = document.get("resources", {})
    by_uid = {str(r["uid"]): (name, r) for name, r in resources.items()}
    names = sorted(by_uid)
    deps: dict[str, list[str]] = {
        uid: sorted({d for d in depends_on.get(uid, ()) if d in by_uid and d != uid})
        for uid in names
    }
    for uid in names:
        if by_uid[uid][1].get("type") == WORKLOAD_TYPE and not deps[uid]:
            deps[uid] = [u for u in names if by_uid[u][1].get("type") != WORKLOAD_TYPE]
    layer = _layers(names, deps)
    rows: dict[int, list[str]] = {}
    position: dict[str, float] = {}
    by_layer: dict[int, list[str]] = {}
    for uid in names:  # in name order, as each layer's list was (one pass, not one per layer)
        by_layer.setdefault(layer[uid], []).append(uid)
    for index in range(max(layer.values(), default=-1) + 1):
        members = by_layer.get(index, [])

        def weight(uid: str) -> tuple[float, str]:
            placed = [position[d] for d in deps[uid] if d in position]
            return (sum(placed) / len(placed) if placed else -1.0, by_uid[uid][0])

        members.sort(key=weight)
        rows[index] = members
        position.update((uid, float(i)) for i, uid in enumerate(members))
    nodes = []
    boxes: dict[str, tuple[int, int]] = {}
    for index, members in rows.items():
        for row, uid in enumerate(members):
            name, resource = by_uid[uid]
            x = MARGIN + index * (NODE_WIDTH + LAYER_GAP)
            y = MARGIN + row * (NODE_HEIGHT + ROW_GAP)
            boxes[uid] = (x, y)
            nodes.append(
                {
                    "id": uid,
                    "name": name,
                    "type": resource.get("type"),
                    "state": resource.get("state"),
                    "provider": resource.get("provider"),
                    "workflow": resource.get("workflow"),
                    "shared": uid in shared,
                    "workload": resource.get("type") == WORKLOAD_TYPE,
                    "layer": index,
                    "x": x,
                    "y": y,
                    "width": NODE_WIDTH,
                    "height": NODE_HEIGHT,
                }
            )
    edges = []
    for uid in names:
        for dep in deps[uid]:
            (x1, y1), (x2, y2) = boxes[dep], boxes[uid]
            start = (x1 + NODE_WIDTH, y1 + NODE_HEIGHT // 2)
            end = (x2, y2 + NODE_HEIGHT // 2)
            bend = (end[0] - start[0]) // 2
            path = (
                f"M{start[0]},{start[1]} C{start[0] + bend},{start[1]} "
                f"{end[0] - bend},{end[1]} {end[0]},{end[1]}"
            )
            edges.append({"from": dep, "to": uid, "path": path})
    width = max((x + NODE_WIDTH for x, _ in boxes.values()), default=0) + MARGIN
    height = max((y + NODE_HEIGHT for _, y in boxes.values()), default=0) + MARGIN
    return {
        "app": document.get("app"),
        "nodes": nodes,
        "edges": edges,
        "width": width,
        "height": height,
    }

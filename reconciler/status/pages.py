"""The documents behind the dashboard's overview and app pages, read from the store with
few queries whatever the number of apps (the overview at 5,000 apps renders in well under
100 ms): counts by phase in SQL, only the apps needing attention decoded, the running
executions, the repositories. Called through :class:`reconciler.status.views.StatusViews`.

"Needing attention" comes first with the exact command that releases it: a delete the guard
holds (``innominatus confirm REPOSITORY``, or ``confirm APP`` for one app's), a failed app
(``innominatus retry APP`` once its cause is fixed), a suspended app or repository
(``innominatus resume TARGET``), an invalid file (fix and commit it: no command releases it).
Blocking: call from a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.status.document import app_status
from reconciler.status.graph import build_graph
from reconciler.store import AppRecord, Store

ATTENTION_LIMIT = 50
RUNNING_LIMIT = 50


def _app_of(uid: str) -> str | None:
    """The app of an owned resource's UID (``type.class#app.name``); None for a shared one."""
    _, _, rest = uid.partition("#")
    app, dot, _ = rest.partition(".")
    return app if dot else None


def attention(apps: Sequence[AppRecord], repositories: Sequence[Mapping[str, Any]]) -> list[Any]:
    """What needs a person, most urgent first: held deletes, failed, invalid, suspended."""
    items: list[dict[str, Any]] = []
    for repository in repositories:
        hold = repository.get("hold")
        if hold:
            apps_held = sorted({a for a in map(_app_of, hold["deletes"]) if a is not None})
            items.append(
                {
                    "kind": "held",
                    "target": repository["name"],
                    "what": f"{len(hold['deletes'])} delete(s) held in repository "
                    f"{repository['name']}: {hold['reason']}",
                    "command": hold["command"],
                    "apps": apps_held,
                }
            )
        if repository.get("suspended"):
            items.append(
                {
                    "kind": "suspended",
                    "target": repository["name"],
                    "what": f"repository {repository['name']} is suspended",
                    "command": f"innominatus resume {repository['name']}",
                }
            )
    order = {"Failed": 0, "Invalid": 1}
    for app in sorted(apps, key=lambda a: (order.get(a.phase, 2), a.name)):
        if app.phase == "Failed":
            items.append(
                {
                    "kind": "failed",
                    "target": app.name,
                    "app": app.name,
                    "what": f"app {app.name} failed ({app.reason})",
                    "command": f"innominatus retry {app.name}",
                }
            )
        elif app.phase == "Invalid":
            items.append(
                {
                    "kind": "invalid",
                    "target": app.name,
                    "app": app.name,
                    "what": f"{app.path} is invalid: fix it and commit",
                    "command": None,
                }
            )
        if app.suspended:
            items.append(
                {
                    "kind": "suspended",
                    "target": app.name,
                    "app": app.name,
                    "what": f"app {app.name} is suspended",
                    "command": f"innominatus resume {app.name}",
                }
            )
    return items


def overview(
    store: Store,
    *,
    repositories: list[dict[str, Any]],
    providers: Callable[[], dict[str, Any]] | None,
    executions: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """The overview: apps by phase, what needs attention, repositories, the provider set and
    its last refusal, executions running now."""
    phases = store.apps.phase_counts()
    running = store.executions.all(state="running", limit=RUNNING_LIMIT)
    return {
        "apps": sum(phases.values()),
        "phases": phases,
        "attention": attention(store.apps.needing_attention(limit=ATTENTION_LIMIT), repositories),
        "repositories": repositories,
        "providers": None if providers is None else providers(),
        "running": [executions(e) for e in running],
    }


def app_detail(
    store: Store, name: str, *, executions: Callable[[Any], dict[str, Any]]
) -> dict[str, Any] | None:
    """An app's page: its status document (secrets masked), its dependency graph and its
    latest executions."""
    record = store.apps.get(name)
    if record is None:
        return None
    resources = store.resources.of_app(name)
    document = app_status(record, resources, source=store.repositories.get(record.repository))
    graph = build_graph(
        document,
        depends_on={r.uid: r.depends_on for r in resources},
        shared={r.uid for r in resources if r.shared},
    )
    return {
        "app": document,
        "graph": graph,
        "executions": [executions(e) for e in store.executions.all(app=name, limit=50)],
    }

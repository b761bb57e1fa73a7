"""Resource identity: the Score UID of a declared resource (ARCHITECTURE §5.4).

Two declarations are one resource iff their UIDs are equal: same type, same class (omitted =
``default``) and, when ``id`` is set, same id whatever the app (a shared resource); otherwise the
app and resource name make it private to the app. Same format as score-go's ``NewResourceUid``.
Called by the desired state, the planner and the store, which key everything by UID.
"""

from __future__ import annotations

from reconciler.types import ResourceUid

DEFAULT_CLASS = "default"


def resource_uid(
    *, app: str, name: str, type: str, class_: str | None = None, id: str | None = None
) -> ResourceUid:
    """``<type>.<class>#<app>.<name>``, or ``<type>.<class>#<id>`` for a shared resource."""
    klass = DEFAULT_CLASS if class_ is None else class_
    if id is not None:
        return ResourceUid(f"{type}.{klass}#{id}")
    return ResourceUid(f"{type}.{klass}#{app}.{name}")

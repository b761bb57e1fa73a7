"""One page of app summaries for thousands of apps: name, repository, phase, live resources
counted by state, and when anything of the app last changed.

Three queries whatever the page size: the page of apps (by name, after a cursor, filtered),
the total under the same filters, and the resource counts of that page's apps only (owned
resources and claimed shared ones, grouped in SQL). Called through
:meth:`reconciler.store.repositories.Apps.summaries` by the API's apps list; the counts of apps
by phase (:func:`phase_counts`) serve the dashboard's overview.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, union_all
from sqlalchemy.orm import Session

from reconciler.store.models import AppRow, ClaimRow, ResourceRow
from reconciler.store.session import utc


@dataclass(frozen=True, slots=True)
class AppSummary:
    name: str
    repository: str
    phase: str
    suspended: bool
    updated_at: datetime
    resources: dict[str, int] = field(default_factory=dict)
    """Live resources (not terminated) by state."""


@dataclass(frozen=True, slots=True)
class AppPage:
    apps: list[AppSummary]
    total: int
    """Apps matching the filters, on every page."""
    last: str | None
    """The name to continue after, or None on the last page."""


def _conditions(
    *, phase: str | None, repository: str | None, text: str | None, type_: str | None = None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if type_ is not None:  # a live resource of that type, owned or a claimed shared one
        live = ResourceRow.state != "terminated"
        owned = select(ResourceRow.app).where(ResourceRow.type == type_, live)
        claimed = (
            select(ClaimRow.app)
            .join(ResourceRow, ResourceRow.uid == ClaimRow.uid)
            .where(ResourceRow.type == type_, live)
        )
        conditions.append(AppRow.name.in_(union_all(owned, claimed)))
    if phase is not None:
        conditions.append(AppRow.phase == phase)
    if repository is not None:
        conditions.append(AppRow.repository == repository)
    if text:
        conditions.append(func.lower(AppRow.name).contains(text.lower(), autoescape=True))
    return conditions


def _counts(session: Session, names: Sequence[str]) -> dict[str, dict[str, tuple[int, datetime]]]:
    """App -> state -> (count, latest update) of its live resources, owned and claimed."""
    live = ResourceRow.state != "terminated"
    owned = select(ResourceRow.app.label("app"), ResourceRow.state, ResourceRow.updated_at).where(
        ResourceRow.app.in_(names), ResourceRow.shared.is_(False), live
    )
    claimed = (
        select(ClaimRow.app.label("app"), ResourceRow.state, ResourceRow.updated_at)
        .join(ResourceRow, ResourceRow.uid == ClaimRow.uid)
        .where(ClaimRow.app.in_(names), live)
    )
    both = union_all(owned, claimed).subquery()
    rows = session.execute(
        select(both.c.app, both.c.state, func.count(), func.max(both.c.updated_at)).group_by(
            both.c.app, both.c.state
        )
    )
    counts: dict[str, dict[str, tuple[int, datetime]]] = {}
    for app, state, count, latest in rows:
        counts.setdefault(app, {})[state] = (int(count), latest)
    return counts


def app_page(
    session: Session,
    *,
    after: str | None,
    limit: int,
    phase: str | None = None,
    repository: str | None = None,
    text: str | None = None,
    type_: str | None = None,
) -> AppPage:
    """Up to ``limit`` apps named after ``after``, in name order, matching every filter given
    (``text``: a case-insensitive part of the name; ``type_``: a live resource of that type)."""
    conditions = _conditions(phase=phase, repository=repository, text=text, type_=type_)
    page = select(AppRow).where(*conditions)
    if after is not None:
        page = page.where(AppRow.name > after)
    rows = list(session.scalars(page.order_by(AppRow.name).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    total = int(session.scalar(select(func.count()).select_from(AppRow).where(*conditions)) or 0)
    counts = _counts(session, [r.name for r in rows]) if rows else {}
    apps = []
    for row in rows:
        states = counts.get(row.name, {})
        stamps = [row.updated_at, *(latest for _, latest in states.values())]
        times = [t for t in map(utc, stamps) if t is not None]
        apps.append(
            AppSummary(
                name=row.name,
                repository=row.repository,
                phase=row.phase,
                suspended=row.suspended,
                updated_at=max(times),
                resources={state: count for state, (count, _) in sorted(states.items())},
            )
        )
    return AppPage(apps=apps, total=total, last=rows[-1].name if more else None)


def phase_counts(session: Session) -> dict[str, int]:
    """Apps by phase, in one grouped query (the dashboard's overview at any number of apps)."""
    rows = session.execute(select(AppRow.phase, func.count()).group_by(AppRow.phase))
    return {phase: int(count) for phase, count in sorted(rows)}


def resource_types(session: Session) -> list[str]:
    """The types of live resources, for the apps list's filter."""
    query = select(ResourceRow.type).where(ResourceRow.state != "terminated").distinct()
    return sorted(session.scalars(query))

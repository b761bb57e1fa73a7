"""What a new provider set does to the recorded resources: the one rule the daemon's platform
repository follower (refuse a set that drops a type with live resources) and ``innominatus
plan`` on a platform repository's pull request (which resources a merge would update) share.

A resource's inputs hash holds its type's installation digest (the provider's installation
parameters and the ``step_defaults`` its steps use, :meth:`ProviderSet.installed`), so a set
that changes that digest updates every active resource of the type: the planner's own rule.
A new provider version or changed workflow files alone run nothing: the resources run the new
workflows on their next change. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.plan.model import RecordedResource
from reconciler.providers.registry import ProviderSet
from reconciler.providers.resolve import ResolutionError


@dataclass(frozen=True, slots=True)
class TypeChange:
    """One recorded resource whose type's provider differs between two sets."""

    resource: RecordedResource
    provider: str
    """The provider claiming the type in the new set."""
    workflow: str | None
    """``provider/workflow`` of the update the new set would run; None when it has none."""
    updates: bool
    """The daemon runs that update: the installation digest changed and it is active."""
    detail: str
    """``test-team 1.0.0 -> 1.1.0; installation parameters changed``."""


def _live(resource: RecordedResource) -> bool:
    return resource.state != "terminated" and resource.provider is not None


def lost_types(head: ProviderSet, resources: Iterable[RecordedResource]) -> list[str]:
    """One line per resource type that live resources (provisioned by some provider, not
    terminated) have and no provider of ``head`` claims: accepting ``head`` would leave them
    with no workflow to update or delete them, so a set like that is refused whole."""
    lost: dict[str, list[RecordedResource]] = {}
    for resource in resources:
        if _live(resource) and head.claims(resource.type) is None:
            lost.setdefault(resource.type, []).append(resource)
    lines = []
    for type_, live in sorted(lost.items()):
        names = ", ".join(str(r.uid) for r in live[:3]) + (" ..." if len(live) > 3 else "")
        providers = ", ".join(sorted({r.provider or "" for r in live}))
        lines.append(
            f"resource type {type_!r} has {len(live)} live resource(s) ({names}) and no provider "
            f"of the new set claims it; keep provider {providers} until they are deleted"
        )
    return lines


def type_changes(
    base: ProviderSet | None, head: ProviderSet, resources: Iterable[RecordedResource]
) -> list[TypeChange]:
    """The live resources whose type's provider changes from ``base`` to ``head`` (version,
    files or installation), sorted by UID; types ``head`` does not claim are
    :func:`lost_types`'."""
    changes = []
    for resource in sorted(resources, key=lambda r: r.uid):
        new = head.claims(resource.type)
        old = base.claims(resource.type) if base is not None else None
        if not _live(resource) or new is None:
            continue
        what = []
        if old is None:
            what.append(f"now claimed by {new.name} {new.version}")
        else:
            if (old.name, old.version) != (new.name, new.version):
                what.append(f"{old.name} {old.version} -> {new.name} {new.version}")
            installed = old.installed != new.installed
            if installed:
                what.append("installation parameters changed")
            if old.digest != new.digest and not installed:
                what.append("workflow files changed")
        if not what:
            continue
        try:
            resolution = head.resolve(type_=resource.type, operation="update")
            workflow: str | None = f"{resolution.provider.name}/{resolution.workflow.name}"
        except ResolutionError:
            workflow = None
        updates = old is not None and old.installed != new.installed and resource.state == "active"
        changes.append(
            TypeChange(
                resource=resource,
                provider=new.name,
                workflow=workflow,
                updates=updates,
                detail="; ".join(what),
            )
        )
    return changes

"""Trust boundaries between repositories (ARCHITECTURE §6 invariant 10): which apps and shared
resources a repository may declare. Pure; typed results.

- An app name belongs to the repository that declared it first, until its deletes finished.
- A shared resource (Score ``id``) belongs to the repository whose apps declared it first;
  another repository may declare it only if the owner lists it under ``share_with``, and then
  identically. On any conflict only the newcomer is ``Invalid``; the incumbent keeps running.
- A repository's policy says which resource types, providers and shared ids it may use.

Called by the engine's repository sync and by the pull-request review (the results are data:
:class:`SharedConflict` says who conflicts with whom; its ``message`` is for humans only).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from reconciler.desired import DesiredApp, DesiredResource
from reconciler.plan.hashing import canonical_json


def fingerprint(resource: DesiredResource) -> str:
    """What two declarations of one shared resource must agree on."""
    return canonical_json([resource.type, resource.class_, resource.params, resource.annotations])


@dataclass(frozen=True, slots=True)
class Declaration:
    """One app declaring one shared resource."""

    app: str
    repository: str
    path: str
    uid: str
    fingerprint: str
    incumbent: bool
    """Recorded before this pass, identically: it is what runs now."""


@dataclass(frozen=True, slots=True)
class SharedConflict:
    """Why a newcomer's declaration of a shared resource is refused: ``holder`` belongs to a
    repository that does not share with ``repository`` (``foreign``), or declares it
    differently."""

    app: str
    uid: str
    repository: str
    holder: Declaration
    foreign: bool

    @property
    def message(self) -> str:
        holder = self.holder
        if self.foreign:
            return (
                f"shared resource conflict: {self.uid} belongs to repository "
                f"{holder.repository!r} (declared by app {holder.app!r}, {holder.path}); give "
                "this resource another id, or ask that repository's owners to add "
                f"{self.repository!r} to its share_with"
            )
        return (
            f"shared resource conflict: {self.uid} is also declared by app {holder.app!r} "
            f"({holder.path}) with different type, class, params or annotations; declare a "
            "shared resource identically everywhere, or give it another id"
        )


def declarations(
    incumbents: Iterable[tuple[str, DesiredApp]],
    newcomers: Mapping[str, DesiredApp | None],
    *,
    repository: str,
) -> list[Declaration]:
    """The shared-resource declarations to judge. ``incumbents``: (repository, app) recorded
    before, valid; ``newcomers``: ``repository``'s apps now (None: removed). A declaration an
    app keeps identically stays an incumbent; a changed or new one is a newcomer."""
    found: list[Declaration] = []
    for owner, old in incumbents:
        now = newcomers.get(old.name) if owner == repository else None
        mine = owner == repository and old.name in newcomers
        if mine and now is None:
            continue  # removed now
        for resource in old.resources.values():
            if resource.id is None:
                continue
            if mine and now is not None:
                again = next((r for r in now.resources.values() if r.uid == resource.uid), None)
                if again is None or fingerprint(again) != fingerprint(resource):
                    continue  # changed now: its new declaration is a newcomer
            found.append(
                Declaration(
                    app=old.name,
                    repository=owner,
                    path=old.path,
                    uid=resource.uid,
                    fingerprint=fingerprint(resource),
                    incumbent=True,
                )
            )
    for name, app in newcomers.items():
        if app is None:
            continue
        known = {d.uid for d in found if d.app == name}
        for resource in app.resources.values():
            if resource.id is not None and resource.uid not in known:
                found.append(
                    Declaration(
                        app=name,
                        repository=repository,
                        path=app.path,
                        uid=resource.uid,
                        fingerprint=fingerprint(resource),
                        incumbent=False,
                    )
                )
    return found


def shared_conflicts(
    declarations: Collection[Declaration],
    *,
    repository: str,
    sharing: Mapping[str, Collection[str]],
) -> dict[str, SharedConflict]:
    """App of ``repository`` -> why its shared-resource declaration is refused (the first
    conflict, by UID). Only this repository's newcomers are ever refused; ``sharing``: owner
    repository -> the repositories it lets declare its shared resources."""
    by_uid: dict[str, list[Declaration]] = {}
    for declaration in declarations:
        by_uid.setdefault(declaration.uid, []).append(declaration)
    refused: dict[str, SharedConflict] = {}
    for uid, found in sorted(by_uid.items()):
        incumbents = [d for d in found if d.incumbent]
        newcomers = sorted(
            (d for d in found if not d.incumbent and d.repository == repository),
            key=lambda d: (d.path, d.app),
        )
        if not newcomers:
            continue
        owners = sorted({d.repository for d in incumbents} - {repository})
        reference = incumbents[0] if incumbents else newcomers[0]
        for newcomer in newcomers:
            foreign = [o for o in owners if repository not in sharing.get(o, ())]
            if foreign:
                holder = next(d for d in incumbents if d.repository == foreign[0])
                refused.setdefault(
                    newcomer.app, SharedConflict(newcomer.app, uid, repository, holder, True)
                )
            elif newcomer is not reference and newcomer.fingerprint != reference.fingerprint:
                refused.setdefault(
                    newcomer.app, SharedConflict(newcomer.app, uid, repository, reference, False)
                )
    return refused


def app_name_taken(*, app: str, path: str, owner_repository: str, owner_path: str) -> str:
    """The error of a Score file naming an app that another repository owns."""
    return (
        f"{path}: app name {app!r} belongs to repository {owner_repository!r} ({owner_path}); "
        "an app name belongs to the repository that declared it first: rename this app "
        "(metadata.name)"
    )


def policy_problem(
    app: DesiredApp,
    *,
    repository: str,
    resource_types: Collection[str],
    providers: Collection[str],
    shared_ids: Collection[str],
    provider_of: Callable[[str], str | None],
) -> str | None:
    """Why ``app`` is outside its repository's policy, or None. The message names the policy
    key to change (or the resource to change)."""

    def allowed(value: str, patterns: Collection[str]) -> bool:
        return any(fnmatchcase(value, pattern) for pattern in patterns)

    for name, resource in sorted(app.resources.items()):
        where = f"{app.path}: resource {name!r}"
        if not allowed(resource.type, resource_types):
            return (
                f"{where} has type {resource.type!r}, which the policy of repository "
                f"{repository!r} does not allow (policy.resource_types: "
                f"{', '.join(resource_types)})"
            )
        provider = provider_of(resource.type)
        if provider is not None and not allowed(provider, providers):
            return (
                f"{where} of type {resource.type!r} is provided by {provider!r}, which the "
                f"policy of repository {repository!r} does not allow (policy.providers: "
                f"{', '.join(providers)})"
            )
        if resource.id is not None and not allowed(resource.id, shared_ids):
            return (
                f"{where} declares shared id {resource.id!r}, which the policy of repository "
                f"{repository!r} does not allow (policy.shared_ids: {', '.join(shared_ids)})"
            )
    return None

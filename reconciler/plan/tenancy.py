"""Trust boundaries between repositories (ARCHITECTURE §6 invariant 10): which apps and shared
resources a repository may declare. Pure; typed results.

- An app name belongs to the repository that declared it first, until its deletes finished.
- A shared resource (Score ``id``) belongs to the repository whose apps declared it first;
  another repository may declare it only if the owner lists it under ``share_with``, and then
  identically. On any conflict only the newcomer is ``Invalid``; the incumbent keeps running.
- A repository's policy says which resource types, providers and shared ids it may use.

Called by the engine's repository sync (and by nothing that writes: the results are data).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from reconciler.desired import DesiredApp

SHARED_CONFLICT = "shared resource conflict:"
"""Prefix of the error of an app made ``Invalid`` by a shared-resource conflict; such an app
recovers by itself once the conflict is gone."""


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


def shared_conflicts(
    declarations: Collection[Declaration],
    *,
    repository: str,
    sharing: Mapping[str, Collection[str]],
) -> dict[str, str]:
    """App of ``repository`` -> why its shared-resource declaration is refused. Only this
    repository's newcomers are ever refused; ``sharing``: owner repository -> the
    repositories it lets declare its shared resources."""
    by_uid: dict[str, list[Declaration]] = {}
    for declaration in declarations:
        by_uid.setdefault(declaration.uid, []).append(declaration)
    refused: dict[str, str] = {}
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
                    newcomer.app,
                    f"{SHARED_CONFLICT} {uid} belongs to repository {foreign[0]!r} (declared by "
                    f"app {holder.app!r}, {holder.path}); give this resource another id, or ask "
                    f"that repository's owners to add {repository!r} to its share_with",
                )
            elif newcomer is not reference and newcomer.fingerprint != reference.fingerprint:
                refused.setdefault(
                    newcomer.app,
                    f"{SHARED_CONFLICT} {uid} is also declared by app {reference.app!r} "
                    f"({reference.path}) with different type, class, params or annotations; "
                    "declare a shared resource identically everywhere, or give it another id",
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

"""What a review is judged against besides the two states, and the delete guard's verdict.

:class:`ReviewContext` holds the configuration a review needs: the provider set the planner
resolves every action against (the same :func:`reconciler.plan.planner.plan_app` the engine
runs, so a plan fails exactly where the daemon would), ``prune``, the guard's limit, the
repository's name and sharing. :func:`guard_problem` evaluates the engine's own delete guard
(:func:`reconciler.plan.guard.evaluate_hold`) over the deletes the head causes. Pure; called
by :mod:`.state`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from reconciler.plan.guard import LiveResource, evaluate_hold, pending_deletes
from reconciler.plan.review.model import Note, Problem
from reconciler.plan.review.params import DEFAULT_SALT, Masker
from reconciler.providers.registry import ProviderSet


@dataclass(frozen=True, slots=True)
class ReviewContext:
    """Everything about the configuration a review needs, besides the two states.

    ``providers`` is None when the configured set was refused (``provider_problem`` says
    why); ``repository`` is the config entry's name, needed for the exact ``innominatus
    confirm`` of the delete guard; ``sharing``: owner repository -> the repositories it lets
    declare its shared resources (``share_with``). ``unloadable``: provider sources left out
    because they cannot load on this machine -> why (their types show as unknown, not as
    claimed by no provider); ``notes`` say so in the review."""

    providers: ProviderSet | None
    provider_problem: str | None = None
    prune: bool = True
    max_deletes: int = 10
    repository: str | None = None
    masker: Masker = field(default_factory=lambda: Masker(DEFAULT_SALT))
    sharing: Mapping[str, Collection[str]] = field(default_factory=dict)
    unloadable: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[Note, ...] = ()

    @property
    def workload(self) -> bool:
        """Whether apps get the implicit workload resource (a provider claims the type)."""
        return self.providers is not None and self.providers.claims("workload") is not None

    def unknown_here(self, type_: str) -> str | None:
        """Why no workflow of ``type_`` can be known on this machine: no provider loaded here
        claims it, and a source that could not be loaded might. None otherwise (a type no
        provider claims is then a problem, as the daemon would find it)."""
        if not self.unloadable:
            return None
        if self.providers is not None and self.providers.claims(type_) is not None:
            return None
        if len(self.unloadable) == 1:
            ((name, why),) = self.unloadable.items()
            return f"provider {name} not loadable here: {why}"
        listed = "; ".join(f"{name}: {why}" for name, why in sorted(self.unloadable.items()))
        return f"providers not loadable here: {listed}"


def guard_problem(
    context: ReviewContext,
    *,
    live: Collection[LiveResource],
    declared: dict[str, frozenset[str] | None],
    outside_live: int = 0,
    confirmed: bool = False,
) -> Problem | None:
    """The delete guard's hold over the deletes ``declared`` causes among ``live`` (as the
    engine's repository sync evaluates it), as a problem with the exact confirmation.
    ``outside_live``: live resources of files the review did not load."""
    if not context.prune:
        return None
    pending = pending_deletes(live, declared=declared)
    hold = evaluate_hold(
        repository=context.repository or "<repository>",
        commit="",
        pending=pending,
        live=len(live) + outside_live,
        max_deletes=context.max_deletes,
        previous=None,
        confirmed=pending if confirmed else (),
    )
    if hold is None:
        return None
    reason = hold.reason
    if context.repository is None:
        reason += " (<repository> is this repository's name under repositories: in the config)"
    return Problem("delete-guard", reason)

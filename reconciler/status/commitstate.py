"""What a repository's source commit looks like to the people who pushed it: the state a
commit status on the forge shows (``pending``, ``success``, ``failure``) and its description.

Called by the engine in the ``status:<repository>`` work, after the status files were written,
with the apps that still have work queued (``busy``); the result is offered to
:class:`reconciler.status.commitstatus.CommitStatusSender`. Read from the store, with the app
phases the reconciles recorded and the ``Ready`` message the status document shows
(:func:`reconciler.status.document.app_status`, secrets masked), so the forge, the status
branch and the API say the same thing:

- ``failure`` when an app is ``Failed`` or ``Invalid``, holds deletes, or is suspended, or the
  repository has a problem of its own (a file naming no app, an app name another repository
  owns, held deletes): the first problem, ``app: resource: error`` (``app: message`` where no
  resource failed);
- else ``pending`` while an app is busy (its new spec or an execution's end not yet
  reconciled) or ``Progressing``/``Deleting``: ``M of N apps progressing``;
- else ``success``: ``N apps ready``.

Blocking (SQL): call from a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.plan.model import RecordedResource
from reconciler.status.document import app_status
from reconciler.status.forge import CommitState
from reconciler.store import AppRecord, RepositoryRecord, Store

_FAILED = ("Failed", "Invalid")
_FAILED_REASONS = ("DeletesHeld", "Suspended")
_WORKING = ("Progressing", "Deleting")


@dataclass(frozen=True, slots=True)
class CommitVerdict:
    sha: str
    state: CommitState
    description: str


def _apps(count: int) -> str:
    return f"{count} app" if count == 1 else f"{count} apps"


def _problem(document: Mapping[str, Any]) -> str:
    """A failing app's problem as its status document shows it (masked): for a ``Failed``
    app the error of the resource its ``Ready`` message names (the step's own words, where
    the message may only say the attempts ran out), else the message itself."""
    message = str(document["conditions"][0]["message"] or document["phase"])
    if document["phase"] != "Failed":
        return message
    errors = {
        name: str(entry["error"])
        for name, entry in document["resources"].items()
        if entry.get("error")
    }
    named = message.split(":", 1)[0]
    if named in errors:
        return f"{named}: {errors[named]}"
    if errors:
        name = min(errors)
        return f"{name}: {errors[name]}"
    return message


def decide(
    source: RepositoryRecord,
    apps: Sequence[AppRecord],
    *,
    busy: Collection[str],
    resources_of: Callable[[str], Sequence[RecordedResource]],
) -> CommitVerdict | None:
    """The status of ``source``'s seen commit (None before one was seen). ``resources_of``
    reads an app's resources: only the first failing app's, to mask its message."""
    if source.seen_commit is None:
        return None
    sha = source.seen_commit
    failing = [
        app
        for app in sorted(apps, key=lambda a: a.name)
        if app.name not in busy and (app.phase in _FAILED or app.reason in _FAILED_REASONS)
    ]
    if failing:
        first = failing[0]
        document = app_status(first, resources_of(first.name), source=source)
        return CommitVerdict(sha, "failure", f"{first.name}: {_problem(document)}")
    if source.problems:
        return CommitVerdict(sha, "failure", source.problems.splitlines()[0])
    if source.hold_reason:
        return CommitVerdict(
            sha,
            "failure",
            f"deletes held: {source.hold_reason}; `innominatus confirm {source.name}`",
        )
    working = [app for app in apps if app.name in busy or app.phase in _WORKING]
    if working:
        return CommitVerdict(sha, "pending", f"{len(working)} of {_apps(len(apps))} progressing")
    return CommitVerdict(sha, "success", f"{_apps(len(apps))} ready")


def commit_verdict(store: Store, repository: str, *, busy: Collection[str]) -> CommitVerdict | None:
    """:func:`decide` over what the store records for ``repository`` now."""
    source = store.repositories.get(repository)
    if source is None:
        return None
    return decide(
        source,
        store.apps.all(repository=repository),
        busy=busy,
        resources_of=store.resources.of_app,
    )

"""The review model: what a merge (or the daemon, now) would do, as plain frozen values.

Built by :mod:`.state` from the planner's actions (head against the recorded state, or against
one synthesised from the merge base by :mod:`.base`); read by the renderers in
:mod:`reconciler.plan.render`.
Machine-facing names (operations, :class:`Reason` values, problem kinds) are part of the JSON
schema (``reconciler/plan/render/plan.schema.json``): add to them, never rename.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

ReviewOperation = Literal["create", "update", "delete", "replace"]
OPERATIONS: tuple[ReviewOperation, ...] = ("create", "update", "delete", "replace")
ChangeKind = Literal["add", "remove", "modify"]
ProblemKind = Literal[
    "invalid-file",  # a Score file that does not parse or validate (message has file:line)
    "invalid-app",  # an app declared twice, or with a dependency cycle
    "shared-conflict",  # two apps declare one shared resource differently
    "no-workflow",  # no provider claims the type, or it has no workflow for the operation
    "parameters",  # the workflow refuses the params (required missing, wrong type)
    "provider-set",  # the configured providers were refused as a whole
    "unresolved",  # a placeholder names an output the resource does not have (state mode)
    "delete-guard",  # the deletes wait for `innominatus confirm`
    "golden-path-run",  # a GoldenPathRun file that is broken or that its golden path refuses
]
NoteKind = Literal[
    "host-only",  # a provider source held back here by a value of the daemon's host
    "unknown-param",  # a param the workflow does not declare: dropped (a misspelling?)
    "providers-not-from-head",  # the change edits provider files, which plan does not load
    "provider-change",  # a provider's version or files change; nothing runs for it now
]
WARNINGS: frozenset[str] = frozenset(
    {"unknown-param", "providers-not-from-head", "provider-change"}
)
"""Note kinds shown as warnings (the others say what could not be loaded here)."""


class Reason(StrEnum):
    """Why an action happens. Every value is produced by :mod:`.state`, but
    ``installation_changed``: a platform repository change (``plan.providerchange``)."""

    NEW_RESOURCE = "new_resource"
    PARAMS_CHANGED = "params_changed"
    WORKFLOW_SELECTION_CHANGED = "workflow_selection_changed"
    TYPE_CHANGED = "type_changed"
    CLASS_CHANGED = "class_changed"
    REMOVED_FROM_SPEC = "removed_from_spec"
    APP_REMOVED = "app_removed"
    SHARED_RELEASED = "last_shared_reference_dropped"
    WORKLOAD_RERENDERED = "workload_rerendered"
    RETRYING_FAILED = "retrying_failed"  # state mode: a failed action is tried again
    DECLARED_AGAIN = "declared_again"  # state mode: declared again after it was deleted
    IN_PROGRESS = "in_progress"  # state mode: an execution is running now
    INSTALLATION_CHANGED = "installation_changed"  # a platform change: its provider's install

    @property
    def text(self) -> str:
        return _REASON_TEXT[self]


_REASON_TEXT = {
    Reason.NEW_RESOURCE: "new resource",
    Reason.PARAMS_CHANGED: "params changed",
    Reason.WORKFLOW_SELECTION_CHANGED: "workflow selection changed",
    Reason.TYPE_CHANGED: "type changed",
    Reason.CLASS_CHANGED: "class changed",
    Reason.REMOVED_FROM_SPEC: "removed from spec",
    Reason.APP_REMOVED: "app removed from Git",
    Reason.SHARED_RELEASED: "last reference to a shared resource dropped",
    Reason.WORKLOAD_RERENDERED: "workload re-rendered",
    Reason.RETRYING_FAILED: "retrying a failed action",
    Reason.DECLARED_AGAIN: "declared again after deletion",
    Reason.IN_PROGRESS: "in progress",
    Reason.INSTALLATION_CHANGED: "provider installation changed",
}


@dataclass(frozen=True, slots=True)
class ParamChange:
    """One flattened parameter (``a.b.c``) that differs. ``old`` is meaningless for an
    ``add``, ``new`` for a ``remove``. When ``secret``, both are stable masks (``***1a2b3c``);
    when ``known_after_apply``, ``new`` is the placeholder text it will be resolved from."""

    key: str
    kind: ChangeKind
    old: Any = None
    new: Any = None
    secret: bool = False
    known_after_apply: bool = False


@dataclass(frozen=True, slots=True)
class ReviewAction:
    app: str
    resource: str
    uid: str
    type: str
    class_: str
    operation: ReviewOperation
    reason: Reason
    order: int  # 1-based position in the app's run order (dependencies first)
    detail: str = ""  # what the reason needs to be precise ("default -> internal", ...)
    workflow: str | None = None  # "provider/workflow"; None when it cannot be resolved
    delete_workflow: str | None = None  # replace: the workflow deleting ``replaces`` first
    replaces: str | None = None  # replace: the UID that goes away
    apps: tuple[str, ...] = ()  # a shared resource: every app declaring it
    after: tuple[str, ...] = ()  # UIDs of actions in this plan that must finish first
    changes: tuple[ParamChange, ...] = ()
    unknown: str | None = None
    """Why ``workflow`` (or a replace's ``delete_workflow``) is None without a problem: no
    provider loaded here claims the type, and a source that might could not be loaded on this
    machine ("provider team-a not loadable here: path /srv/team-a does not exist ...")."""


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    message: str
    app: str | None = None  # None: about the repository or a file, shown above the apps
    uid: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """What a reviewer should know that does not stop the plan from being applied: a value
    of the daemon's host missing here (the daemon's host has it), or a warning (kinds in
    :data:`WARNINGS`: a param no workflow declares, provider files a change edits, a provider
    change that runs nothing now). Not counted as a problem."""

    kind: NoteKind
    message: str
    source: str | None = None  # the provider source it is about
    setting: str | None = None  # where in the configuration: providers[team-a].path


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """A golden path run the change would start (its ``kind: GoldenPathRun`` file is new or
    asks for something else); ``parameters`` as the file gives them, secret-named masked."""

    name: str
    file: str
    golden_path: str  # provider/workflow once checked
    reason: Literal["new", "changed"]
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Orphan:
    """A resource gone from the spec that stays provisioned because the repository has
    ``prune: false``."""

    app: str
    uid: str


@dataclass(frozen=True, slots=True)
class Side:
    """One side of the comparison: a label for humans and the commit, if there is one."""

    label: str
    commit: str | None = None


@dataclass(frozen=True, slots=True)
class Review:
    mode: Literal["merge-base", "state"]
    base: Side
    head: Side
    repository: str | None = None
    actions: tuple[ReviewAction, ...] = ()
    problems: tuple[Problem, ...] = ()
    orphans: tuple[Orphan, ...] = ()
    paths: Mapping[str, str] = field(default_factory=dict)  # app -> its Score file
    notes: tuple[Note, ...] = ()
    runs: tuple[PlannedRun, ...] = ()
    """Golden path runs the change would start."""

    @property
    def host_notes(self) -> list[Note]:
        """Notes about provider sources not loadable on this machine."""
        return [n for n in self.notes if n.kind not in WARNINGS]

    @property
    def warnings(self) -> list[Note]:
        """Notes that are warnings (:data:`WARNINGS`), in the order found."""
        return [n for n in self.notes if n.kind in WARNINGS]

    def counts(self) -> dict[str, int]:
        """Actions per operation, and problems."""
        counts: dict[str, int] = dict.fromkeys(OPERATIONS, 0)
        for action in self.actions:
            counts[action.operation] += 1
        return counts | {"problems": len(self.problems)}

    def counts_of(self, app: str) -> dict[str, int]:
        """One app's actions per operation."""
        counts: dict[str, int] = dict.fromkeys(OPERATIONS, 0)
        for action in self.actions_of(app):
            counts[action.operation] += 1
        return counts

    @property
    def apps(self) -> list[str]:
        """Every app with an action, a problem or an orphan, sorted."""
        named = {a.app for a in self.actions} | {o.app for o in self.orphans}
        return sorted(named | {p.app for p in self.problems if p.app is not None})

    def actions_of(self, app: str) -> list[ReviewAction]:
        return [a for a in self.actions if a.app == app]

    def problems_of(self, app: str | None) -> list[Problem]:
        return [p for p in self.problems if p.app == app]

    def orphans_of(self, app: str) -> list[Orphan]:
        return [o for o in self.orphans if o.app == app]

    @property
    def exit_code(self) -> int:
        """Like ``terraform plan -detailed-exitcode``: 1 problems, 2 changes, 0 neither.
        Notes never fail a plan: the daemon's host has what they say is missing here."""
        if self.problems:
            return 1
        return 2 if self.actions or self.runs else 0


def sequenced(
    actions: Sequence[ReviewAction], needs: Mapping[str, Iterable[str]]
) -> list[ReviewAction]:
    """One app's actions numbered in run order, each with the actions it waits for.

    ``needs[uid]`` names what must settle first if it changes too: for a create, update or
    replace the resources it references; for a delete the resources referencing it."""
    acting = {a.uid for a in actions}
    return [
        replace(
            action,
            order=number,
            after=tuple(sorted(set(needs.get(action.uid, ())) & acting - {action.uid})),
        )
        for number, action in enumerate(actions, start=1)
    ]

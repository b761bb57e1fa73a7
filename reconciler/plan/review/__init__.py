"""Pull-request review (ARCHITECTURE §5.7): what a merge would do, as a stable model.

Both modes run the daemon's own planner (:func:`reconciler.plan.planner.plan_app`, which
resolves each action's workflow and binds its parameters): :func:`review_desired` plans head
against a recorded state synthesised from the merge base, :func:`review_state` against the
recorded state itself (what the daemon would do now). Each action shows the
``provider/workflow`` it runs and its parameter diff with secrets masked; problems a reviewer
must see are listed. Pure. Called by ``innominatus plan`` (through
:mod:`reconciler.assembly.review`); rendered by :mod:`reconciler.plan.render`.
"""

from reconciler.plan.review.base import review_desired, synthesised
from reconciler.plan.review.checks import ReviewContext
from reconciler.plan.review.model import (
    OPERATIONS,
    Note,
    Orphan,
    ParamChange,
    PlannedRun,
    Problem,
    Reason,
    Review,
    ReviewAction,
    Side,
)
from reconciler.plan.review.params import KNOWN_AFTER_APPLY, Masker
from reconciler.plan.review.runs import planned_runs
from reconciler.plan.review.state import Recorded, review_state

__all__ = [
    "KNOWN_AFTER_APPLY",
    "OPERATIONS",
    "Masker",
    "Note",
    "Orphan",
    "ParamChange",
    "PlannedRun",
    "Problem",
    "Reason",
    "Recorded",
    "Review",
    "ReviewAction",
    "ReviewContext",
    "Side",
    "planned_runs",
    "review_desired",
    "review_state",
    "synthesised",
]

"""Pull-request review (ARCHITECTURE §5.7): what a merge would do, as a stable model.

:func:`review_desired` compares the desired state at the merge base with the one at head;
:func:`review_state` compares head with the recorded state (what the daemon would do now).
Both resolve each action to the ``provider/workflow`` it runs, diff its params with secrets
masked, and list the problems a reviewer must see. Pure. Called by ``innominatus plan``;
rendered by :mod:`reconciler.plan.render`.
"""

from reconciler.plan.review.checks import ReviewContext
from reconciler.plan.review.compare import review_desired
from reconciler.plan.review.model import (
    OPERATIONS,
    Orphan,
    ParamChange,
    Problem,
    Reason,
    Review,
    ReviewAction,
    Side,
)
from reconciler.plan.review.params import KNOWN_AFTER_APPLY, Masker
from reconciler.plan.review.state import Recorded, review_state

__all__ = [
    "KNOWN_AFTER_APPLY",
    "OPERATIONS",
    "Masker",
    "Orphan",
    "ParamChange",
    "Problem",
    "Reason",
    "Recorded",
    "Review",
    "ReviewAction",
    "ReviewContext",
    "Side",
    "review_desired",
    "review_state",
]

"""Score v1b1: loading with line numbers, the workload model, placeholders, UIDs and ordering.

The pure Score layer (ARCHITECTURE §4): it reads file contents handed in by its callers (the
desired state, ``innominatus validate``/``render``) and never touches the disk, Git or a clock.
Modules: :mod:`.loader` (file -> workloads), :mod:`.validate` (one document against the
schema), :mod:`.model`, :mod:`.placeholders` (``${...}`` semantics of the reference
implementation), :mod:`.uid` (resource identity), :mod:`.order` (creation order, cycles).
"""

from reconciler.score.loader import load_workloads
from reconciler.score.model import ResourceSpec, Workload
from reconciler.score.order import CycleError, creation_order
from reconciler.score.placeholders import PlaceholderError
from reconciler.score.uid import resource_uid
from reconciler.score.validate import ScoreError

__all__ = [
    "CycleError",
    "PlaceholderError",
    "ResourceSpec",
    "ScoreError",
    "Workload",
    "creation_order",
    "load_workloads",
    "resource_uid",
]

"""Providers: provider.yaml and workflow files, the verified provider set, and resolution.

Pure: reads only the files it is pointed at, runs nothing. Layout (one concept per module):
``documents`` (YAML file -> model, ``file:line`` problems), ``parameters`` (workflow parameter
types and binding), ``workflow`` (workflow files), ``manifest`` (provider.yaml model),
``capabilities`` (claimed types, aliases, operation -> workflow), ``provider`` (one provider,
loaded and verified), ``resolve`` (choosing the workflow), ``registry`` (the provider set),
``template`` (the Go-template subset) and ``rendering`` (each value rendered by the context it
lands in: ``contexts``, ``scripts``/``shellscan``, ``structured``, ``urls``, ``slots``).
Callers: the runtime and CLI load the set; the planner and engine resolve and bind parameters.
"""

from reconciler.providers.capabilities import OperationSpec
from reconciler.providers.documents import InvalidInputError
from reconciler.providers.manifest import ProviderManifest, WorkflowEntry
from reconciler.providers.registry import (
    Provider,
    ProviderSet,
    ProviderSetError,
    Resolution,
    ResolutionError,
    load_provider,
    load_provider_set,
)
from reconciler.providers.resolve import TAGS_ANNOTATION, WORKFLOW_ANNOTATION
from reconciler.providers.workflow import (
    Parameter,
    Step,
    Workflow,
    apply_parameters,
    load_workflow,
)

__all__ = [
    "TAGS_ANNOTATION",
    "WORKFLOW_ANNOTATION",
    "InvalidInputError",
    "OperationSpec",
    "Parameter",
    "Provider",
    "ProviderManifest",
    "ProviderSet",
    "ProviderSetError",
    "Resolution",
    "ResolutionError",
    "Step",
    "Workflow",
    "WorkflowEntry",
    "apply_parameters",
    "load_provider",
    "load_provider_set",
    "load_workflow",
]

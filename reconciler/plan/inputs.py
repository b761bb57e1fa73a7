"""A resource's inputs: its params with placeholders resolved, and their inputs hash.

Owns the implicit workload resource (ARCHITECTURE §5.4: its params are the app's Score spec
resolved against the outputs of the app's resources) and the resolution of ``${resources...}``
placeholders against recorded outputs. Outputs a review does not know (a state synthesised from
a base commit) leave their placeholders as written, so both sides of a review compare alike.
Pure; called by :mod:`reconciler.plan.planner` and the review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from reconciler.desired import DesiredApp, DesiredResource
from reconciler.plan.hashing import canonical_json, inputs_hash
from reconciler.plan.model import RecordedResource
from reconciler.score.placeholders import PlaceholderError, make_resolver, substitute
from reconciler.score.workload import resolve_spec
from reconciler.secrets import is_secret_key, secret_values
from reconciler.types import ResourceUid


def _output_lookup(name: str, recorded: RecordedResource, secrets: set[str]) -> Any:
    """Looks up an output; values of secret outputs are noted in ``secrets`` for masking.
    Outputs not known yet (a review's synthesised state) leave the placeholder as written."""

    carried = secret_values(recorded.outputs, recorded.secret_keys)

    def lookup(keys: list[str]) -> Any:
        if not keys:
            return recorded.uid
        if not recorded.outputs_known:
            path = ".".join(key.replace(".", "\\.") for key in (name, *keys))
            return "${resources." + path + "}"
        value: Any = recorded.outputs
        for depth, key in enumerate(keys):
            if not isinstance(value, Mapping) or key not in value:
                known = ", ".join(sorted(recorded.outputs)) or "none"
                raise PlaceholderError(
                    f"resource {recorded.name!r} has no output {'.'.join(keys[: depth + 1])!r} "
                    f"(its outputs: {known}); fix the reference or the provider's outputs"
                )
            value = value[key]
        text = value if isinstance(value, str) else canonical_json(value)
        if is_secret_key(keys[0], recorded.secret_keys):
            secrets.add(text)
        # A non-secret output may still carry a secret (a URL with the password in it): the
        # secret values inside it are secret wherever the value goes.
        secrets.update(s for s in carried if s in text)
        return value

    return lookup


def resolve_params(
    resource: DesiredResource,
    *,
    desired: DesiredApp,
    recorded: Mapping[ResourceUid, RecordedResource],
    secrets: set[str] | None = None,
) -> dict[str, Any]:
    """The resource's params with ``${metadata...}`` and ``${resources...}`` substituted;
    values taken from secret outputs are added to ``secrets``."""
    found: set[str] = set() if secrets is None else secrets
    lookups = {}
    for name in resource.depends_on:
        dependency = recorded.get(desired.resources[name].uid)
        if dependency is not None:
            lookups[name] = _output_lookup(name, dependency, found)
    resolver = make_resolver(metadata=desired.metadata, resources=lookups)
    resolved = substitute(dict(resource.params), resolver)
    assert isinstance(resolved, dict)
    return resolved


WORKLOAD_TYPE = "workload"


def workload_uid(app: str) -> ResourceUid:
    """The implicit resource deploying an app's containers (ARCHITECTURE §5.4)."""
    return ResourceUid(f"{WORKLOAD_TYPE}.default#{app}")


def with_workload(app: DesiredApp) -> DesiredApp:
    """``app`` plus its implicit workload resource: after every other resource (it depends on
    all of them), so it is created last and deleted first."""
    name = WORKLOAD_TYPE if WORKLOAD_TYPE not in app.resources else "score-workload"
    resource = DesiredResource(
        uid=workload_uid(app.name),
        name=name,
        type=WORKLOAD_TYPE,
        class_="default",
        id=None,
        params={},
        annotations={},
        depends_on=tuple(app.order),
    )
    return replace(app, resources={**app.resources, name: resource}, order=(*app.order, name))


def _workload_params(
    app: DesiredApp, recorded: Mapping[ResourceUid, RecordedResource], secrets: set[str]
) -> dict[str, Any]:
    """The app's Score spec with placeholders resolved against its resources' outputs (as
    written while some of those are not known yet)."""
    names = {n: r for n, r in app.resources.items() if r.type != WORKLOAD_TYPE}
    if any(r.uid in recorded and not recorded[r.uid].outputs_known for r in names.values()):
        return dict(app.spec)
    outputs = {n: dict(recorded[r.uid].outputs) for n, r in names.items() if r.uid in recorded}
    resolved = resolve_spec(
        app.spec,
        outputs=outputs,
        uids={n: r.uid for n, r in names.items()},
        secret=lambda n, key: is_secret_key(key, recorded[names[n].uid].secret_keys),
    )
    secrets.update(resolved.secret_values)
    return resolved.spec


def resolved_inputs(
    resource: DesiredResource,
    *,
    app: DesiredApp,
    recorded: Mapping[ResourceUid, RecordedResource],
    installed: str | None = None,
    secrets: set[str] | None = None,
) -> tuple[dict[str, Any], str]:
    """A resource's params with placeholders resolved against ``recorded`` outputs, and their
    inputs hash (§5.4); raises :class:`PlaceholderError` or :class:`UnresolvedPlaceholder`.
    Values taken from secret outputs are added to ``secrets``. What a review synthesises as
    a base commit's applied inputs is computed here too, so both sides compare alike."""
    found: set[str] = set() if secrets is None else secrets
    if resource.type == WORKLOAD_TYPE and resource.uid == workload_uid(app.name):
        params = _workload_params(app, recorded, found)
    else:
        params = resolve_params(resource, desired=app, recorded=recorded, secrets=found)
    digest = inputs_hash(
        type_=resource.type,
        class_=resource.class_,
        id_=resource.id,
        params=params,
        annotations=resource.annotations,
        installed=installed,
    )
    return params, digest


def declared_params(app: DesiredApp, resource: DesiredResource) -> Mapping[str, Any]:
    """A resource's params as written (the workload's: its app's Score spec)."""
    if resource.type == WORKLOAD_TYPE and resource.uid == workload_uid(app.name):
        return app.spec
    return resource.params

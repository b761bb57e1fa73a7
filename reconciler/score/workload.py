"""The resolved workload: a Score spec with every placeholder substituted (ARCHITECTURE §5.4).

Pure. Placeholders are substituted in container ``variables``, file ``content`` (unless
``noExpand``, never ``binaryContent``), volume ``source`` (where a two-part ``${resources.X}``
is the resource's UID) and resource ``params``; never in ``command``, ``args`` or ``image``.
Resource outputs come from the caller (the recorded outputs, or an ``--outputs`` file for
``innominatus render``); ``secret(resource, key)`` says which outputs are secret, so a renderer
can put variables that carry them into a Secret. Unknown references fail with the reference and
the place it came from (``containers.web.variables.DB_HOST: invalid ref ...``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.score.model import Workload
from reconciler.score.placeholders import PlaceholderError, make_resolver, substitute_string


@dataclass(frozen=True, slots=True)
class ResolvedWorkload:
    spec: dict[str, Any]
    secret_variables: frozenset[tuple[str, str]]  # (container, variable) carrying a secret
    secret_values: frozenset[str] = frozenset()  # the secret output values it took in


class UnresolvedPlaceholder(ValueError):
    """A placeholder that cannot be resolved; the message names where it sits."""


def resolve_workload(
    workload: Workload,
    *,
    outputs: Mapping[str, Mapping[str, Any]],
    uids: Mapping[str, str],
    secret: Callable[[str, str], bool] | None = None,
) -> ResolvedWorkload:
    return resolve_spec(workload.spec, outputs=outputs, uids=uids, secret=secret)


def resolve_spec(
    document: Mapping[str, Any],
    *,
    outputs: Mapping[str, Mapping[str, Any]],
    uids: Mapping[str, str],
    secret: Callable[[str, str], bool] | None = None,
) -> ResolvedWorkload:
    """:func:`resolve_workload` on a Score document as stored (a plain mapping)."""
    touched: set[str] = set()
    taken: set[str] = set()

    def lookup_for(name: str) -> Callable[[list[str]], Any]:
        def lookup(keys: list[str]) -> Any:
            if not keys:
                return uids.get(name, name)
            value: Any = outputs.get(name, {})
            for depth, key in enumerate(keys):
                if not isinstance(value, Mapping) or key not in value:
                    known = ", ".join(sorted(outputs.get(name, {}))) or "none"
                    raise PlaceholderError(
                        f"resource {name!r} has no output {'.'.join(keys[: depth + 1])!r} "
                        f"(its outputs: {known})"
                    )
                value = value[key]
            if secret is not None and secret(name, keys[0]):
                touched.add(name)
                taken.add(value if isinstance(value, str) else json.dumps(value, sort_keys=True))
            return value

        return lookup

    resolver = make_resolver(
        metadata=document.get("metadata") or {},
        resources={name: lookup_for(name) for name in document.get("resources") or {}},
    )

    def resolve(where: str, text: str) -> str:
        touched.clear()
        try:
            return substitute_string(text, resolver)
        except PlaceholderError as exc:
            raise UnresolvedPlaceholder(f"{where}: {exc}") from exc

    spec = copy.deepcopy(dict(document))
    secret_variables: set[tuple[str, str]] = set()
    for name, container in spec.get("containers", {}).items():
        variables = container.get("variables") or {}
        for key, value in variables.items():
            variables[key] = resolve(f"containers.{name}.variables.{key}", value)
            if touched:
                secret_variables.add((name, key))
        for target, entry in (container.get("files") or {}).items():
            if "content" in entry and not entry.get("noExpand"):
                entry["content"] = resolve(f"containers.{name}.files.{target}", entry["content"])
        for target, entry in (container.get("volumes") or {}).items():
            if "source" in entry:
                entry["source"] = resolve(f"containers.{name}.volumes.{target}", entry["source"])
    for name, resource in spec.get("resources", {}).items():
        resource["params"] = _resolve_tree(
            resource.get("params", {}), f"resources.{name}.params", resolve
        )
    return ResolvedWorkload(
        spec=spec, secret_variables=frozenset(secret_variables), secret_values=frozenset(taken)
    )


def _resolve_tree(value: Any, where: str, resolve: Callable[[str, str], str]) -> Any:
    if isinstance(value, str):
        return resolve(where, value)
    if isinstance(value, dict):
        return {k: _resolve_tree(v, f"{where}.{k}", resolve) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_tree(v, f"{where}.{i}", resolve) for i, v in enumerate(value)]
    return value

"""The provider set: every configured provider, loaded together, conflict-free, immutable.

Owns :func:`load_provider_set` and :class:`ProviderSet`. A set is all-or-nothing: one invalid
provider, or two providers claiming the same type or alias (a type of one equal to an alias of
another included), refuses the whole set with :class:`ProviderSetError` listing every problem,
so the caller keeps its last good set (ARCHITECTURE §5.5). The set answers which provider
claims a type and which workflow runs for an operation, and fingerprints itself so each
execution can record the exact provider files it used. Called by the runtime (at start and on
provider source changes), ``innominatus plan`` and ``innominatus validate``. This module is
also the import path of the provider API (:class:`Provider`, :func:`load_provider`, ...).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from reconciler.errors import InputError, PermanentError
from reconciler.providers.capabilities import OperationSpec
from reconciler.providers.documents import InvalidInputError
from reconciler.providers.manifest import OPERATIONS
from reconciler.providers.provider import Provider, load_provider
from reconciler.providers.resolve import Resolution, ResolutionError, resolve_in
from reconciler.settings import ProviderSourceSettings

__all__ = [
    "OperationSpec",
    "Provider",
    "ProviderSet",
    "ProviderSetError",
    "Resolution",
    "ResolutionError",
    "load_provider",
    "load_provider_set",
]

_NO_ANNOTATIONS: Mapping[str, Any] = MappingProxyType({})


class ProviderSetError(PermanentError):
    """The provider set was refused; ``problems`` holds every problem, each on its own line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        count = len(self.problems)
        header = (
            f"provider set refused, {count} problem{'s' if count != 1 else ''}; fix and reload:"
        )
        super().__init__("\n".join([header, *(f"  - {problem}" for problem in self.problems)]))


@dataclass(frozen=True)
class ProviderSet:
    """Providers by name; constructing one with conflicting claims raises ProviderSetError."""

    providers: Mapping[str, Provider]
    _claims: Mapping[str, Provider] = field(init=False, repr=False, compare=False)
    _installed: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _fingerprint: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        claims, problems = _index(self.providers)
        if problems:
            raise ProviderSetError(problems)
        object.__setattr__(self, "_claims", claims)
        installed = {name: p.installed for name, p in claims.items() if p.installed}
        object.__setattr__(self, "_installed", MappingProxyType(installed))
        content = [
            {"name": name, "version": provider.version, "digest": provider.digest}
            for name, provider in sorted(self.providers.items())
        ]
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        object.__setattr__(self, "_fingerprint", hashlib.sha256(canonical.encode()).hexdigest())

    def claims(self, type_: str) -> Provider | None:
        """The provider claiming ``type_`` (a type or an alias), or None."""
        return self._claims.get(type_)

    def installed(self) -> Mapping[str, str]:
        """Claimed type or alias -> its provider's installation digest, where it has one."""
        return self._installed

    def claimed(self) -> list[str]:
        """Every claimed type and alias, sorted."""
        return sorted(self._claims)

    def resolve(
        self, *, type_: str, operation: str, annotations: Mapping[str, Any] = _NO_ANNOTATIONS
    ) -> Resolution:
        """The provider and workflow for ``operation`` on a resource of ``type_``.

        ``annotations`` are the Score resource's metadata annotations. Raises
        :class:`ResolutionError` saying what to change; ``ValueError`` for an operation
        other than create, read, update or delete (a caller's bug, not a user's).
        """
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")
        provider = self._claims.get(type_)
        if provider is None:
            if not self._claims:
                hint = "no provider is loaded; add one under providers: in the configuration"
            else:
                hint = f"loaded providers claim: {', '.join(self.claimed())}"
            raise ResolutionError(f"no provider claims resource type '{type_}'; {hint}")
        return resolve_in(provider, type_=type_, operation=operation, annotations=annotations)

    def fingerprint(self) -> str:
        """sha256 over provider names, versions and the content of every file they loaded."""
        return self._fingerprint


def load_provider_set(
    sources: Sequence[ProviderSourceSettings],
    *,
    known_step_types: Collection[str] | None = None,
    step_defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> ProviderSet:
    """Load every enabled filesystem source; refuse the set on any problem, listing them all.

    ``step_defaults`` (the configuration's, by step type) fill what steps leave unset."""
    problems: list[str] = []
    providers: dict[str, Provider] = {}
    seen: set[str] = set()
    for source in sources:
        if not source.enabled or source.type != "filesystem" or source.path is None:
            continue
        if source.name in seen:
            problems.append(f"provider source '{source.name}' is configured twice; remove one")
            continue
        seen.add(source.name)
        try:
            provider = load_provider(
                source.path,
                name=source.name,
                known_step_types=known_step_types,
                parameters=source.parameters,
                step_defaults=step_defaults,
            )
        except InvalidInputError as exc:
            problems.extend(problem.message for problem in exc.problems)
            continue
        except InputError as exc:
            problems.append(exc.message)
            continue
        providers[provider.name] = provider
    problems.extend(_index(providers)[1])
    if problems:
        raise ProviderSetError(problems)
    return ProviderSet(providers=providers)


def _index(providers: Mapping[str, Provider]) -> tuple[dict[str, Provider], list[str]]:
    """Claimed name -> provider, and one problem per name two providers claim."""
    claims: dict[str, Provider] = {}
    problems: list[str] = []
    for key, provider in sorted(providers.items()):
        if key != provider.name:
            problems.append(f"provider {provider.name} is registered under the name '{key}'")
        claimed = [*provider.types, *provider.aliases]
        for name in claimed:
            owner = claims.get(name)
            if owner is None:
                claims[name] = provider
                continue
            problems.append(
                f"{_where(provider, name)}: resource type '{name}' is claimed by two providers, "
                f"{owner.name} ({_kind(owner, name)}, {_where(owner, name)}) and {provider.name} "
                f"({_kind(provider, name)}); remove it from one of them or disable one provider"
            )
    return claims, problems


def _kind(provider: Provider, name: str) -> str:
    target = provider.aliases.get(name)
    return f"alias for {target}" if target is not None else "type"


def _where(provider: Provider, name: str) -> str:
    location = provider.locations.get(name)
    return str(location) if location is not None else str(provider.path / "provider.yaml")

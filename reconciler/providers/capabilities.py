"""What a provider claims: canonical type -> operation -> workflow choice, plus aliases.

Owns the meaning of both capability formats of provider.yaml and the checks the original
innominatus forgot: every referenced workflow is declared, a workflow serves the operation it
is used for, alias targets exist, aliases do not loop, no type is declared twice, and the
legacy ``resourceTypes`` copy names only declared types. Simple format (``resourceTypes``
alone): every listed type is created by the provisioner workflows whose operation is create
or unset, and updated/deleted/read by those whose operation says so. Called by
:func:`reconciler.providers.provider.load_provider`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.errors import InputError, Location
from reconciler.providers.manifest import (
    OPERATIONS,
    ManifestFile,
    OperationRef,
    TypeCapability,
    WorkflowEntry,
)

_ADVANCED = ("capabilities", "resourceTypeCapabilities")


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """How one operation picks its workflow: one ``workflow``, or ``tagged`` ones + ``default``."""

    workflow: str | None = None
    tagged: tuple[tuple[str, tuple[str, ...]], ...] = ()
    default: str | None = None

    def names(self) -> tuple[str, ...]:
        """Every workflow this operation may run, in declared order."""
        if self.workflow is not None:
            return (self.workflow,)
        return tuple(name for name, _ in self.tagged)


@dataclass(slots=True)
class Claims:
    """The result of :func:`build_claims`; ``locations`` says where each claim is declared."""

    types: dict[str, dict[str, OperationSpec]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    locations: dict[str, Location] = field(default_factory=dict)
    problems: list[InputError] = field(default_factory=list)


def build_claims(file: ManifestFile, entries: Mapping[str, WorkflowEntry]) -> Claims:
    """Every type and alias ``file`` claims, with a problem per broken reference."""
    builder = _Builder(file, entries)
    capabilities = file.manifest.capabilities
    advanced = (capabilities.resourceTypeCapabilities if capabilities else None) or []
    simple = (capabilities.resourceTypes if capabilities else None) or []
    for index, capability in enumerate(advanced):
        builder.advanced(index, capability)
    builder.simple(simple, legacy_copy=bool(advanced))
    builder.resolve_aliases()
    return builder.claims


class _Builder:
    def __init__(self, file: ManifestFile, entries: Mapping[str, WorkflowEntry]) -> None:
        self.file = file
        self.entries = entries
        self.claims = Claims()
        self.targets: dict[str, tuple[str, Location]] = {}

    def problem(self, message: str, *at: str | int) -> None:
        self.claims.problems.append(InputError(message, location=self.file.location(*at)))

    def declare(self, name: str, *at: str | int) -> bool:
        first = self.claims.locations.get(name)
        if first is not None:
            self.problem(
                f"type '{name}' is declared twice (first at line {first.line}); merge the entries",
                *at,
            )
            return False
        self.claims.locations[name] = self.file.location(*at)
        return True

    def advanced(self, index: int, capability: TypeCapability) -> None:
        at = (*_ADVANCED, index)
        name = capability.type
        if not self.declare(name, *at, "type"):
            return
        if capability.aliasFor is not None:
            if capability.operations is not None:
                self.problem(
                    f"type '{name}' sets both aliasFor and operations; an alias runs its "
                    "target's workflows, so remove one of the two",
                    *at,
                    "operations",
                )
            self.targets[name] = (capability.aliasFor, self.file.location(*at, "aliasFor"))
            return
        operations: dict[str, OperationSpec] = {}
        declared = 0
        for operation in OPERATIONS:
            ref = getattr(capability.operations, operation, None) if capability.operations else None
            if ref is None:
                continue
            declared += 1
            spec = self.operation(name, operation, ref, (*at, "operations", operation))
            if spec is not None:
                operations[operation] = spec
        if not declared:
            self.problem(
                f"type '{name}' declares no operations; add operations.create (and update, "
                "delete) or make it an alias with aliasFor",
                *at,
                "type",
            )
        self.claims.types[name] = operations

    def operation(
        self, type_: str, operation: str, ref: OperationRef, at: tuple[str | int, ...]
    ) -> OperationSpec | None:
        where = f"operations.{operation} of type '{type_}'"
        if ref.workflow is not None:
            if ref.workflows is not None or ref.default is not None:
                self.problem(
                    f"{where} sets workflow together with workflows/default; keep one form", *at
                )
                return None
            ok = self.reference(ref.workflow, type_, operation, (*at, "workflow"))
            return OperationSpec(workflow=ref.workflow) if ok else None
        if not ref.workflows:
            self.problem(f"{where} names no workflow; set workflow: NAME or workflows: [...]", *at)
            return None
        ok = True
        tagged: list[tuple[str, tuple[str, ...]]] = []
        for index, item in enumerate(ref.workflows):
            if item.name in (name for name, _ in tagged):
                self.problem(
                    f"{where} lists workflow '{item.name}' twice; remove one",
                    *at,
                    "workflows",
                    index,
                )
                ok = False
                continue
            ok = (
                self.reference(item.name, type_, operation, (*at, "workflows", index, "name"))
                and ok
            )
            tagged.append((item.name, tuple(item.tags)))
        names = [name for name, _ in tagged]
        if ref.default is not None and ref.default not in names:
            self.problem(
                f"default '{ref.default}' of {where} is not one of its workflows "
                f"({', '.join(names)}); name one of them",
                *at,
                "default",
            )
            ok = False
        return OperationSpec(tagged=tuple(tagged), default=ref.default) if ok else None

    def reference(self, name: str, type_: str, operation: str, at: Sequence[str | int]) -> bool:
        entry = self.entries.get(name)
        if entry is None:
            known = ", ".join(self.entries) or "none: workflows[] is empty"
            self.problem(
                f"operations.{operation} of type '{type_}' references workflow '{name}', which "
                f"workflows[] does not declare; declare it or use one of: {known}",
                *at,
            )
            return False
        if entry.operation is not None and entry.operation != operation:
            self.problem(
                f"type '{type_}' runs workflow '{name}' for {operation}, but workflows[] declares "
                f"it for {entry.operation}; fix one of them, or drop operation: from the workflow "
                "entry if it serves several operations",
                *at,
            )
            return False
        return True

    def simple(self, types: Sequence[str], *, legacy_copy: bool) -> None:
        operations = self.simple_operations()
        seen: dict[str, int] = {}
        for index, name in enumerate(types):
            at = ("capabilities", "resourceTypes", index)
            if name in seen:
                self.problem(f"resourceTypes lists '{name}' twice; remove one", *at)
                continue
            seen[name] = index
            if legacy_copy:
                if name not in self.claims.locations:
                    self.problem(
                        f"resourceTypes lists '{name}', which resourceTypeCapabilities does not "
                        "declare; declare it there too (resourceTypes is only the legacy copy)",
                        *at,
                    )
            elif self.declare(name, *at):
                self.claims.types[name] = dict(operations)
        if types and not legacy_copy and not operations:
            self.problem(
                f"resourceTypes claims {', '.join(seen)}, but no provisioner workflow serves "
                "them; add a workflow with category: provisioner to workflows[]",
                "capabilities",
                "resourceTypes",
            )

    def simple_operations(self) -> dict[str, OperationSpec]:
        chosen: dict[str, list[WorkflowEntry]] = {}
        for entry in self.entries.values():
            if entry.category == "provisioner":
                chosen.setdefault(entry.operation or "create", []).append(entry)
        operations: dict[str, OperationSpec] = {}
        for operation in OPERATIONS:
            found = chosen.get(operation, [])
            if len(found) == 1:
                operations[operation] = OperationSpec(workflow=found[0].name)
            elif found:
                operations[operation] = OperationSpec(
                    tagged=tuple((e.name, tuple(e.tags)) for e in found)
                )
        return operations

    def resolve_aliases(self) -> None:
        reported: set[frozenset[str]] = set()
        for alias, (target, location) in self.targets.items():
            chain = [alias]
            current = target
            while current in self.targets and current not in chain:
                chain.append(current)
                current = self.targets[current][0]
            if current in chain:
                cycle = chain[chain.index(current) :]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    self.claims.problems.append(
                        InputError(
                            f"alias cycle {' -> '.join([*cycle, cycle[0]])}; point one of them "
                            "at a type that declares operations",
                            location=self.targets[cycle[0]][1],
                        )
                    )
            elif current in self.claims.types:
                self.claims.aliases[alias] = current
            elif len(chain) == 1:
                self.claims.problems.append(
                    InputError(
                        f"alias '{alias}' points to type '{target}', which this provider does not "
                        "declare; declare that type or fix aliasFor",
                        location=location,
                    )
                )

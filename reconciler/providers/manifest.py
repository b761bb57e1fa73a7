"""provider.yaml: the model of a provider's manifest and its structural validation.

Owns the innominatus manifest format (ARCHITECTURE §5.5): ``apiVersion``, ``kind: Provider``
(legacy ``Platform``), ``metadata`` (SemVer ``version``), ``compatibility``, both capability
formats and ``workflows[]``. Everything checkable from the file's shape alone is checked here
(types of values, known keys, known operations, SemVer by :mod:`.versions`); cross-references
(workflows that exist, alias targets) are :mod:`.capabilities`' and :mod:`.provider`'s job.
Called by :func:`reconciler.providers.provider.load_provider`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BeforeValidator, ConfigDict, model_validator

from reconciler import __version__
from reconciler.errors import InputError, Location
from reconciler.providers.documents import (
    InvalidInputError,
    StrictModel,
    Text,
    describe,
    digest,
    matching,
    read_mapping,
    validate,
)
from reconciler.providers.versions import (
    SEMVER_ADVICE,
    VersionError,
    parse_version,
    precedence,
)
from reconciler.providers.workflow import WorkflowName
from reconciler.yamlfile import Document

Operation = Literal["create", "read", "update", "delete"]
OPERATIONS: Final[tuple[str, ...]] = get_args(Operation)
ApiVersion = Literal["v1", "innominatus.io/v1", "innominatus.io/v1alpha1"]


def _semver(value: Any) -> str:
    try:
        parse_version(value)
    except VersionError as exc:
        raise ValueError(
            f"{describe(value)} is not a SemVer version{exc.hint}; {SEMVER_ADVICE}"
        ) from None
    assert isinstance(value, str)
    return value


SemVer = Annotated[str, BeforeValidator(_semver)]
ProviderName = Annotated[
    str,
    matching(
        r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$",
        what="provider name",
        allowed="lower-case letters, digits, '-' and '_' (at most 63)",
    ),
]
TypeName = Annotated[
    str,
    matching(
        r"^[A-Za-z0-9][A-Za-z0-9_./-]*$",
        what="resource type",
        allowed="letters, digits, '-', '_', '.', '/'",
    ),
]


class Metadata(StrictModel):
    """Who the provider is; unknown keys (author, homepage, license, tags, ...) are kept."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    name: ProviderName
    version: SemVer
    description: Text = ""
    category: Text = ""


CORE_VERSION: Final[str] = __version__
"""The core version ``compatibility`` bounds refer to: innominatus' own version (one source of
truth, ``reconciler.__version__``, so ``innominatus --version`` and the ``minCoreVersion`` that
``providers init`` writes agree). Its major number changes only when providers would need to
change (manifest format, workflow language, step contract)."""


class Compatibility(StrictModel):
    """Core versions the provider works with: ``minCoreVersion <= CORE_VERSION <= max``."""

    minCoreVersion: SemVer | None = None
    maxCoreVersion: SemVer | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Compatibility:
        low = parse_version(self.minCoreVersion) if self.minCoreVersion is not None else None
        high = parse_version(self.maxCoreVersion) if self.maxCoreVersion is not None else None
        if low is not None and high is not None and precedence(low) > precedence(high):
            raise ValueError(f"minCoreVersion {low} is above maxCoreVersion {high}; swap them")
        core = parse_version(CORE_VERSION)
        if low is not None and precedence(low) > core:
            raise ValueError(
                f"needs core {low} or later; this innominatus implements provider core "
                f"{CORE_VERSION}: use a provider release for core {CORE_VERSION}"
            )
        if high is not None and precedence(high) < core:
            raise ValueError(
                f"works up to core {high}; this innominatus implements provider core "
                f"{CORE_VERSION}: use a newer release of the provider"
            )
        return self


class TaggedWorkflow(StrictModel):
    name: WorkflowName
    tags: list[str] = []


class OperationRef(StrictModel):
    """``{workflow: NAME}`` or ``{workflows: [{name, tags}], default: NAME}``."""

    workflow: WorkflowName | None = None
    workflows: list[TaggedWorkflow] | None = None
    default: WorkflowName | None = None


class Operations(StrictModel):
    create: OperationRef | None = None
    read: OperationRef | None = None
    update: OperationRef | None = None
    delete: OperationRef | None = None


class TypeCapability(StrictModel):
    type: TypeName
    aliasFor: TypeName | None = None
    operations: Operations | None = None
    description: Text = ""


class Capabilities(StrictModel):
    resourceTypes: list[TypeName] | None = None
    resourceTypeCapabilities: list[TypeCapability] | None = None


class WorkflowEntry(StrictModel):
    """One entry of ``workflows[]``; ``operation`` None means "create" in the simple format."""

    name: WorkflowName
    file: str
    category: Literal["provisioner", "goldenpath"] = "provisioner"
    operation: Operation | None = None
    tags: list[str] = []
    description: Text = ""
    version: SemVer | None = None


def _expected_output(value: Any) -> Any:
    """An expected output: a scalar (equal as text), ``{matches: REGEX}`` or ``{secret: true}``."""
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((key, item),) = value.items()
        if key == "matches" and isinstance(item, str):
            try:
                re.compile(item)
            except re.error as exc:
                raise ValueError(f"matches: {item!r} is not a regular expression: {exc}") from exc
            return value
        if key == "secret" and item is True:
            return value
    raise ValueError(
        f"{describe(value)} is not an expected output; write a value, {{matches: REGEX}} or "
        "{secret: true}"
    )


ExpectedOutput = Annotated[Any, BeforeValidator(_expected_output)]


class Expectation(StrictModel):
    """What a provider test expects after a pass: the app's phase and resource outputs."""

    phase: Literal["Ready", "Failed"] = "Ready"
    outputs: dict[str, dict[str, ExpectedOutput]] = {}


class UpdateStage(StrictModel):
    score: str
    expect: Expectation = Expectation()


class ProviderTest(StrictModel):
    """One case of ``tests:``, run by ``innominatus providers test``: reconcile ``score``, check
    ``expect``, optionally apply ``update`` and check again, then delete the app."""

    name: Text
    score: str
    parameters: dict[str, Any] = {}
    requires_env: list[str] = []
    expect: Expectation = Expectation()
    update: UpdateStage | None = None


class ProviderManifest(StrictModel):
    apiVersion: ApiVersion
    kind: Literal["Provider", "Platform"]
    metadata: Metadata
    compatibility: Compatibility | None = None
    capabilities: Capabilities | None = None
    workflows: list[WorkflowEntry] | None = None
    tests: list[ProviderTest] | None = None


@dataclass(frozen=True, slots=True)
class ManifestFile:
    """A loaded provider.yaml: the model, the document (for positions) and its sha256."""

    path: Path
    manifest: ProviderManifest
    document: Document
    digest: str

    def location(self, *path: str | int) -> Location:
        """Where ``path`` (``"workflows", 0, "file"``) sits in provider.yaml."""
        return self.document.location(tuple(path))


def load_manifest(path: Path) -> ManifestFile:
    """Read provider.yaml at ``path``; :class:`InvalidInputError` lists every structural problem."""
    raw, document = read_mapping(path, what="provider manifest", name="provider.yaml")
    if "provisioners" in document.data:
        raise InvalidInputError(
            [
                InputError(
                    "legacy provisioners: name programs built into the Go original, which "
                    "innominatus does not have; run `innominatus providers migrate` on this "
                    "folder and write workflows for them",
                    location=document.location(("provisioners",)),
                )
            ]
        )
    manifest, problems = validate(ProviderManifest, document)
    if manifest is None:
        raise InvalidInputError(problems)
    return ManifestFile(path=path, manifest=manifest, document=document, digest=digest(raw))

"""The provider catalogue: provider sources -> verified folders -> one provider set, swapped
atomically on reload (ARCHITECTURE §5.5; issue "Providers as versioned products").

A ``filesystem`` source is its folder; a ``git`` source is fetched (with tags, every object
checked) into ``data_dir``, its ``ref`` or highest tag inside its ``version`` range resolved to
a commit, optionally checked against a GnuPG keyring (signed tag or commit), its files read and
hashed, and only then written to the snapshot ``data_dir/providers/<name>-<tree hash>``. An
optional ``sha256`` pins the tree hash (``reconciler.providers.integrity``); a pinned folder is
copied to such a snapshot too, so the files a step runs are the files verified
(``reconciler.providers.snapshot``). The whole set is then loaded from those folders and
checked (manifests, workflows, step types, conflicts). Any problem
refuses the new set as a whole: the last good set keeps serving and the refusal is kept for
logs, the API and ``innominatus providers list``. ``innominatus plan``, which runs where the
daemon does not, loads with :meth:`ProviderCatalog.load_here` instead: a source held back only
by a value of the daemon's host (:mod:`.hostonly`) is left out and named, the others load.
Called by the runtime and the CLI.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.assembly.hostonly import HostOnly, absent_here, unfetchable
from reconciler.errors import InnominatusError, PermanentError, SourceError
from reconciler.executors.registry import ExecutorRegistry
from reconciler.providers.integrity import TreeDigest, folder_digest, select_version, tree_hash
from reconciler.providers.registry import ProviderSet, load_provider_set
from reconciler.providers.snapshot import snapshot_folder, snapshot_folder_name, write_snapshot
from reconciler.settings import ProviderSourceSettings, Settings
from reconciler.sources.checkout import ProviderCheckout
from reconciler.sources.redact import redact_url
from reconciler.types import CommitSha

logger = logging.getLogger(__name__)


def _full_sha(ref: str) -> bool:
    return len(ref) == 40 and all(c in "0123456789abcdef" for c in ref)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a loaded provider came from."""

    source: str  # the folder, or the redacted repository URL
    ref: str | None = None
    commit: str | None = None
    tree: str = ""


@dataclass(frozen=True, slots=True)
class Catalogue:
    providers: ProviderSet
    origins: Mapping[str, Origin]
    loaded_at: datetime
    fingerprint: str


@dataclass
class ProviderCatalog:
    sources: Sequence[ProviderSourceSettings]
    data_dir: Path
    known_step_types: Collection[str] | None = None
    validate_step: Callable[[str, Mapping[str, Any]], None] | None = None
    """Checks a step's config for its type (the executor registry's ``validate``)."""
    tokens: Mapping[str, str | None] = field(default_factory=dict)
    step_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The configuration's ``step_defaults``: config keys by step type, filled in at load."""
    current: Catalogue | None = None
    platform: Callable[[], dict[str, Any]] | None = None
    """The platform repository's state for :meth:`describe`, when the set comes from one."""
    refusal: str | None = None
    refused_at: datetime | None = None
    _checkouts: dict[str, ProviderCheckout] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def configured(cls, settings: Settings, *, executors: ExecutorRegistry) -> ProviderCatalog:
        """The catalogue of the configured provider sources as the daemon loads it (tokens
        read from their env vars, step defaults applied, every step type and config checked
        by the executors). Used by the runtime, ``innominatus plan`` and ``providers``."""
        return cls(
            sources=settings.providers,
            data_dir=Path(settings.data_dir),
            known_step_types=executors.known_types(),
            validate_step=executors.validate,
            tokens={
                s.name: os.environ.get(s.token_env) if s.token_env else None
                for s in settings.providers
            },
            step_defaults=settings.step_defaults,
        )

    @property
    def watch_paths(self) -> dict[str, Path]:
        """Folders of filesystem sources, and local provider repositories, to watch."""
        paths: dict[str, Path] = {}
        for source in self.sources:
            if source.enabled and source.type == "filesystem" and source.path is not None:
                paths[source.name] = source.path
            elif source.enabled and source.type == "git":
                watched = self._checkout(source).watch_path
                if watched is not None:
                    paths[source.name] = watched
        return paths

    def _checkout(self, source: ProviderSourceSettings) -> ProviderCheckout:
        # By name and URL: a platform repository's commit may point a provider elsewhere.
        key = f"{source.name}\n{source.repository}"
        checkout = self._checkouts.get(key)
        if checkout is None:
            assert source.repository is not None
            checkout = ProviderCheckout(
                name=f"provider-{source.name}",
                url=source.repository,
                branch="main",
                data_dir=self.data_dir,
                token=self.tokens.get(source.name),
            )
            self._checkouts[key] = checkout
        return checkout

    def _folder(self, source: ProviderSourceSettings) -> tuple[Path, Origin]:
        """The folder to load and run ``source`` from, its hash verified against the pin: an
        unpinned folder as it is (edited live); a pinned folder as a snapshot copied from it;
        a Git source as a snapshot of its tree at the resolved commit, hashed and verified
        before anything is written."""
        snapshots = self.data_dir / "providers"
        if source.type == "filesystem":
            assert source.path is not None
            origin = Origin(source=str(source.path))
            if source.sha256 is None:
                return source.path, Origin(origin.source, tree=tree_hash(source.path))
            digest = folder_digest(source.path)
            tree = self._verified(source, digest)
            destination = snapshots / snapshot_folder_name(source.name, tree)
            folder = snapshot_folder(source.path, destination, expected=tree)
            return folder, Origin(origin.source, tree=tree)
        checkout = self._checkout(source)
        pinned = source.ref if source.ref and _full_sha(source.ref) else None
        if pinned is None or not checkout.has_commit(CommitSha(pinned)):
            checkout.refresh()  # a commit already here cannot have changed: no fetch needed
        ref = source.ref or select_version(
            checkout.tags(), source.version or "", source=source.name
        )
        commit, kind = checkout.resolve(ref)
        if source.keyring is not None:
            checkout.verify(ref=ref, kind=kind, commit=commit, keyring=source.keyring)
        under = source.path.as_posix() if source.path is not None else ""
        if source.path is not None and (source.path.is_absolute() or ".." in source.path.parts):
            raise PermanentError(
                f"provider {source.name}: path {under!r} must be a folder inside the "
                "repository, e.g. providers/db (not absolute, no '..')"
            )
        files = checkout.read_tree(commit, under=under)
        digest = TreeDigest()
        for file in files:
            digest.add(file.path, executable=file.executable, content=file.content)
        tree = self._verified(source, digest)
        folder = write_snapshot(files, snapshots / snapshot_folder_name(source.name, tree))
        origin = Origin(
            source=redact_url(source.repository or ""), ref=ref, commit=commit, tree=tree
        )
        return folder, origin

    @staticmethod
    def _verified(source: ProviderSourceSettings, digest: TreeDigest) -> str:
        """The tree hash, refused (PermanentError) unless it is the pinned one."""
        tree = digest.hexdigest()
        pinned = source.sha256.lower() if source.sha256 is not None else None
        if pinned is None or tree == pinned:
            return tree
        hint = (
            "run `innominatus providers hash` on the reviewed tree to pin it"
            if digest.legacy_hexdigest() != pinned
            else "the pin was computed before file modes counted: run `innominatus providers "
            "hash` on the reviewed tree again to update it"
        )
        raise PermanentError(
            f"provider {source.name}: tree hash {tree} does not match the pinned sha256 "
            f"{source.sha256}; refusing it ({hint})"
        )

    def load(self) -> Catalogue:
        """Resolve, verify and load every enabled source; raise with every problem found."""
        return self._load(here=False)[0]

    def load_here(self) -> tuple[Catalogue, tuple[HostOnly, ...]]:
        """``innominatus plan``'s load on a machine that may not be the daemon's host: a
        source that cannot load because of a value of that host (:mod:`.hostonly`) is left
        out and returned; every other problem refuses the set as :meth:`load` does. The
        daemon never calls it: there, any problem refuses the set."""
        return self._load(here=True)

    def _load(self, *, here: bool) -> tuple[Catalogue, tuple[HostOnly, ...]]:
        if any(s.enabled and (s.type == "git" or s.sha256) for s in self.sources):
            # Mirrors and snapshots live there; plain folders need none (`providers list`
            # creates nothing for them).
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        problems: list[str] = []
        folders: list[ProviderSourceSettings] = []
        origins: dict[str, Origin] = {}
        elsewhere: list[HostOnly] = []
        for source in self.sources:
            if not source.enabled:
                continue
            host_only = self._host_only(source) if here else None
            if host_only is not None:
                elsewhere.append(host_only)
                continue
            try:
                folder, origin = self._folder(source)
            except InnominatusError as exc:
                problems.append(exc.message)
                continue
            origins[source.name] = origin
            folders.append(
                ProviderSourceSettings(name=source.name, path=folder, parameters=source.parameters)
            )
        if problems:
            raise PermanentError("provider set refused:\n  - " + "\n  - ".join(problems))
        providers = load_provider_set(
            folders, known_step_types=self.known_step_types, step_defaults=self.step_defaults
        )
        if self.validate_step is not None:
            refused = []
            for provider in providers.providers.values():
                for workflow in provider.workflows.values():
                    for step in workflow.steps:
                        try:
                            self.validate_step(step.type, step.config)
                        except ValueError as exc:
                            refused.append(f"{step.location}: step {step.name!r}: {exc}")
            if refused:
                raise PermanentError("provider set refused:\n  - " + "\n  - ".join(refused))
        catalogue = Catalogue(
            providers=providers,
            origins=origins,
            loaded_at=datetime.now(UTC),
            fingerprint=providers.fingerprint(),
        )
        return catalogue, tuple(elsewhere)

    def _host_only(self, source: ProviderSourceSettings) -> HostOnly | None:
        """The value of the daemon's host that keeps ``source`` from loading here, if any: one
        naming something absent, or an unset token without which the fetch fails (tried
        first: a public repository needs none)."""
        absent = absent_here(source)
        if absent is not None or source.type != "git" or not source.token_env:
            return absent
        token = self.tokens.get(source.name)
        if token:
            return None
        try:
            self._checkout(source).refresh()
        except SourceError as exc:
            return unfetchable(source, token=token, error=exc.message)
        return None

    def reload(self) -> bool:
        """Try a new set; True when it differs from the current one and replaced it. A bad
        set is refused whole: the current one stays and the refusal is recorded."""
        with self._lock:
            try:
                candidate = self.load()
            except InnominatusError as exc:
                self.refusal, self.refused_at = exc.message, datetime.now(UTC)
                logger.error("%s; the last good provider set keeps serving", exc.message)
                return False
            self.refusal = self.refused_at = None
            if self.current is not None and self.current.fingerprint == candidate.fingerprint:
                return False
            self.current = candidate
            return True

    def offer(
        self,
        sources: Sequence[ProviderSourceSettings],
        *,
        step_defaults: Mapping[str, Mapping[str, Any]],
        tokens: Mapping[str, str | None],
        guard: Callable[[ProviderSet], Sequence[str]] = lambda _set: (),
    ) -> bool:
        """Try the set of other ``sources`` (the platform repository's new commit): verified
        and loaded as :meth:`reload` does, then ``guard`` (problems that refuse it, e.g. a
        type with live resources no provider claims any more); accepted, the sources and
        the set are swapped together, and the result says whether the set differs from the
        one it replaced. Refused, a PermanentError listing why: the current sources and set
        keep serving."""
        with self._lock:
            kept = (self.sources, self.step_defaults, self.tokens)
            self.sources, self.step_defaults, self.tokens = sources, step_defaults, tokens
            try:
                candidate = self.load()
                problems = guard(candidate.providers)
                if problems:
                    raise PermanentError("provider set refused:\n  - " + "\n  - ".join(problems))
            except InnominatusError:
                self.sources, self.step_defaults, self.tokens = kept
                raise
            self.refusal = self.refused_at = None
            if self.current is not None and self.current.fingerprint == candidate.fingerprint:
                return False
            self.current = candidate
            return True

    def describe(self) -> dict[str, Any]:
        """The catalogue as the API and ``innominatus providers list`` show it."""
        current = self.current
        providers = []
        if current is not None:
            for name, provider in sorted(current.providers.providers.items()):
                origin = current.origins.get(name, Origin(source=str(provider.path)))
                providers.append(
                    {
                        "name": name,
                        "version": provider.version,
                        "source": origin.source,
                        "ref": origin.ref,
                        "commit": origin.commit,
                        "tree_sha256": origin.tree,
                        "types": sorted(provider.types),
                        "aliases": dict(sorted(provider.aliases.items())),
                        "workflows": sorted(provider.workflows),
                    }
                )
        return {
            "providers": providers,
            "fingerprint": current.fingerprint if current else None,
            "loaded_at": current.loaded_at.strftime("%Y-%m-%dT%H:%M:%SZ") if current else None,
            "refused": self.refusal,
            "refused_at": self.refused_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            if self.refused_at
            else None,
        } | ({"platform": self.platform()} if self.platform is not None else {})

    def close(self) -> None:
        for checkout in self._checkouts.values():
            checkout.close()

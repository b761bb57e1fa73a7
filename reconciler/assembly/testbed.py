"""``innominatus providers test``: run a provider's own test cases for real, in a throwaway place.

Owns :func:`run_provider_tests`. Each case declared under ``tests:`` in provider.yaml gets a
fresh temporary directory holding a Git repository, an SQLite database and a data dir; its
Score file is committed and reconciled by the same runtime the daemon uses (real workflows,
real steps), the app's phase and resource outputs are compared with ``expect``, the optional
``update`` stage is applied and checked the same way, and finally the app is removed from Git
and its resources must be deleted. Nothing outside the temporary directory is touched by
innominatus itself (the provider's steps do what they do). Called by the CLI.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from reconciler.assembly.runtime import Components, build, run_once
from reconciler.errors import InnominatusError
from reconciler.providers.manifest import Expectation, ProviderTest
from reconciler.providers.provider import Provider
from reconciler.settings import (
    EngineSettings,
    ProviderSandboxSettings,
    ProviderSourceSettings,
    RepositorySettings,
    Settings,
    StatusSettings,
)
from reconciler.sources.scratch import ScratchRepository

Outcome = Literal["passed", "failed", "skipped"]
_SCORE_PATH = "apps/case/score.yaml"


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    outcome: Outcome
    problems: tuple[str, ...] = ()
    seconds: float = 0.0


class _CaseFailed(Exception):
    """A stage of a case did not meet its expectation; ``problems`` say how."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


def run_provider_tests(
    provider: Provider,
    cases: Sequence[ProviderTest],
    *,
    only: str | None = None,
    keep: bool = False,
    step_defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[CaseResult]:
    """Run ``cases`` of the (already validated) ``provider``; ``only`` filters by name
    substring, ``keep`` leaves each case's temporary directory behind for inspection,
    ``step_defaults`` are the daemon configuration's (a GitOps target, say)."""
    results = []
    for case in cases:
        if only is not None and only not in case.name:
            continue
        missing = [name for name in case.requires_env if not os.environ.get(name)]
        if missing:
            reason = f"needs environment variable {', '.join(missing)}; export it to run this case"
            results.append(CaseResult(case.name, "skipped", (reason,)))
            continue
        started = time.monotonic()
        scratch = tempfile.mkdtemp(prefix="innominatus-provider-test-")
        try:
            _run_case(provider, case, Path(scratch), step_defaults or {})
        except _CaseFailed as exc:
            outcome = CaseResult(case.name, "failed", exc.problems, time.monotonic() - started)
        except InnominatusError as exc:
            outcome = CaseResult(case.name, "failed", (exc.message,), time.monotonic() - started)
        else:
            outcome = CaseResult(case.name, "passed", (), time.monotonic() - started)
        finally:
            if not keep:
                _remove(Path(scratch))
        if keep:
            outcome = CaseResult(
                outcome.name,
                outcome.outcome,
                (*outcome.problems, f"kept in {scratch}"),
                outcome.seconds,
            )
        results.append(outcome)
    return results


def _granted(parameters: Mapping[str, Any], scratch: Path) -> tuple[Path, ...]:
    """The folders a case's path parameters name (``hosts_file``: its folder; ``*_dir``: the
    folder itself), which its steps may write in their sandbox, as an operator would grant
    them with ``providers[].sandbox.writable``; never one holding the case's scratch."""
    found: list[Path] = []
    for name, value in parameters.items():
        if not isinstance(value, str) or not value.startswith("/"):
            continue
        if name.endswith("_file"):
            folder = Path(value).parent
        elif name.endswith(("_dir", "_path")):
            folder = Path(value) if Path(value).is_dir() else Path(value).parent
        else:
            continue
        if folder.is_dir() and not scratch.resolve().is_relative_to(folder.resolve()):
            found.append(folder)
    return tuple(dict.fromkeys(found))


def _run_case(
    provider: Provider,
    case: ProviderTest,
    scratch: Path,
    step_defaults: Mapping[str, Mapping[str, Any]],
) -> None:
    repository = ScratchRepository(scratch / "repo")
    settings = Settings(
        database=f"sqlite:///{scratch / 'state.db'}",
        data_dir=scratch / "data",
        engine=EngineSettings(workers=2, max_attempts=1),
        repositories=(
            RepositorySettings(
                name="tests",
                url=str(repository.path),
                watch=False,
                status=StatusSettings(enabled=False),
            ),
        ),
        providers=(
            ProviderSourceSettings(
                name=provider.name,
                path=provider.path.resolve(),
                parameters=case.parameters,
                sandbox=ProviderSandboxSettings(writable=_granted(case.parameters, scratch)),
            ),
        ),
        step_defaults={key: dict(value) for key, value in step_defaults.items()},
    )
    try:
        repository.commit({_SCORE_PATH: _read(provider, case.score)}, f"test: {case.name}")
        components = build(settings, lock=False)
        try:
            problems: list[str] = []
            try:
                _pass(components)
                _check(components, case.expect, stage="create")
                if case.update is not None:
                    repository.commit({_SCORE_PATH: _read(provider, case.update.score)}, "update")
                    _pass(components)
                    _check(components, case.update.expect, stage="update")
            except _CaseFailed as exc:
                problems.extend(exc.problems)
            # Always delete what the case created, also after a failed check: the provider's
            # resources are real (a database on a server, a line in a hosts file).
            try:
                _delete(components, repository)
            except (_CaseFailed, InnominatusError) as exc:
                problems.extend(
                    exc.problems if isinstance(exc, _CaseFailed) else (f"delete: {exc.message}",)
                )
            if problems:
                raise _CaseFailed(problems)
        finally:
            components.close()
    finally:
        repository.close()


def _delete(components: Components, repository: ScratchRepository) -> None:
    """Remove the app from Git and reconcile until its resources are deleted (confirming the
    delete guard, which holds a commit deleting every resource of the repository)."""
    repository.commit({_SCORE_PATH: None}, "delete")
    _pass(components)
    held = components.store.repositories.get("tests")
    if held is not None and held.hold_reason:
        components.store.repositories.confirm("tests")
        _pass(components)
    _check_deleted(components)


def _read(provider: Provider, name: str) -> bytes:
    path = (provider.path / name).resolve()
    if not path.is_relative_to(provider.path.resolve()) or not path.is_file():
        raise _CaseFailed([f"Score file {name} not found in {provider.path}; fix `score:`"])
    return path.read_bytes()


def _pass(components: Components) -> None:
    asyncio.run(run_once(components))


def _app(components: Components) -> str:
    apps = components.store.apps.all(repository="tests")
    if len(apps) != 1:
        seen = components.store.repositories.get("tests")
        why = [text for text in (seen.problems, seen.last_error) if text] if seen else []
        raise _CaseFailed([f"expected the test's one app, found {len(apps)}", *why])
    app = apps[0]
    if app.error:
        raise _CaseFailed([f"the Score file is invalid: {app.error}"])
    return app.name


def _check(components: Components, expect: Expectation, *, stage: str) -> None:
    name = _app(components)
    app = components.store.apps.get(name)
    problems: list[str] = []
    if app is not None and app.phase != expect.phase:
        problems.append(
            f"{stage}: app {name} is {app.phase}, expected {expect.phase}"
            + (f" ({app.message})" if app.message else "")
        )
        problems.extend(_errors(components, name))
    resources = {r.name: r for r in components.store.resources.of_app(name)}
    for resource, wanted in expect.outputs.items():
        recorded = resources.get(resource)
        if recorded is None:
            problems.append(f"{stage}: no resource {resource!r} (known: {', '.join(resources)})")
            continue
        for key, expected in wanted.items():
            problems.extend(
                _compare(
                    f"{stage}: {resource}.{key}",
                    recorded.outputs,
                    recorded.secret_keys,
                    key,
                    expected,
                )
            )
    if problems:
        raise _CaseFailed(problems)


def _compare(
    where: str, outputs: Mapping[str, Any], secret: frozenset[str], key: str, expected: Any
) -> list[str]:
    if key not in outputs:
        return [f"{where}: missing (outputs: {', '.join(sorted(outputs)) or 'none'})"]
    if isinstance(expected, Mapping) and "secret" in expected:
        return [] if key in secret else [f"{where}: expected a secret output, it is not secret"]
    if key in secret:
        return [f"{where}: is a secret output; expect it with {{secret: true}}"]
    actual = str(outputs[key])
    if isinstance(expected, Mapping):
        pattern = str(expected["matches"])
        if re.search(pattern, actual) is None:
            return [f"{where}: {actual!r} does not match {pattern!r}"]
        return []
    text = _text(expected)
    return [] if actual == text else [f"{where}: {actual!r}, expected {text!r}"]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _errors(components: Components, app: str) -> list[str]:
    return [
        f"  {run.workflow} ({run.operation} of {run.resource_uid}): {run.error}"
        for run in components.store.executions.all(app=app, limit=20)
        if run.error
    ]


def _check_deleted(components: Components) -> None:
    left = [
        f"{r.name} is {r.state}" + (f": {r.last_error}" if r.last_error else "")
        for records in components.store.resources.by_app().values()
        for r in records
        if r.state != "terminated"
    ]
    if left:
        raise _CaseFailed([f"delete: resources left behind: {'; '.join(left)}"])


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

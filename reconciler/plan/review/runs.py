"""Which golden path runs a merge would start: the ``kind: GoldenPathRun`` files of head whose
content differs from the base's (merge-base mode) or from what the daemon last started (state
mode), each checked as the daemon will check it. A broken or refused run file is a problem at
its line; a run file removed starts nothing (a run is not a resource) and is not shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.errors import InputError
from reconciler.plan.goldenruns import ParsedRun, check_run, index_runs
from reconciler.plan.review.model import PlannedRun, Problem
from reconciler.providers.parameters import looks_secret
from reconciler.providers.registry import ProviderSet
from reconciler.secrets import MASK


def _masked(key: str, value: Any) -> Any:
    """``value`` as a plan shows it: masked when its key, or a key it is nested under, is
    secret-named (``settings: {api_token: ...}``)."""
    if looks_secret(key):
        return MASK
    if isinstance(value, Mapping):
        return {str(k): _masked(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked("", item) for item in value]
    return value


def planned_runs(
    head: Mapping[str, ParsedRun],
    started: Mapping[str, str],
    *,
    providers: ProviderSet | None,
    repository: str | None,
    allowed_providers: Sequence[str] = ("*",),
) -> tuple[tuple[PlannedRun, ...], tuple[Problem, ...]]:
    """Runs of ``head`` (run files by path) that would start, given ``started`` (run name ->
    the content digest that ran, or that the base asks for), and the problems of head's run
    files. Without ``providers`` (a refused set: its own problem) runs are not checked."""
    runs, broken = index_runs(head)
    problems = [Problem("golden-path-run", message) for _, message in sorted(broken.items())]
    planned: list[PlannedRun] = []
    for name in sorted(runs):
        request = runs[name]
        if started.get(name) == request.digest:
            continue
        golden_path: str | None = None
        if providers is not None:
            try:
                checked = check_run(
                    request,
                    providers,
                    repository=repository or "review",
                    allowed_providers=allowed_providers,
                )
            except InputError as exc:
                problems.append(Problem("golden-path-run", exc.message))
                continue
            golden_path = f"{checked.provider.name}/{checked.workflow.name}"
        planned.append(
            PlannedRun(
                name=name,
                file=request.file,
                golden_path=golden_path or request.golden_path,
                reason="changed" if name in started else "new",
                parameters={
                    key: _masked(key, value) for key, value in sorted(request.parameters.items())
                },
            )
        )
    return tuple(planned), tuple(problems)

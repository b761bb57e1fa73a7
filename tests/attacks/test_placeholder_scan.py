"""Attack (hostile app repository): a Score file that makes placeholder scanning quadratic.

``reconciler/score/placeholders.py`` finds ``${...}`` with the regex
``\\$((?:\\$?\\{([^}]*)\\})|\\$)``. On a string of many ``${`` and no ``}`` every ``${`` scans
to the end of the string before failing, so the scan is quadratic in the string's length (Go's
RE2, which the reference uses, is linear). ``find_references`` runs for every param of every
file, in ``validate``, in the daemon's sync (reference checks, then dependency order) and in
``plan``: a 60 kB value (a file far under the 1 MiB limit) costs tens of seconds, a 1 MiB file
hours, and one such commit stalls the daemon's pass for every team of that repository.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from pathlib import Path

import pytest

HEAD = (
    "apiVersion: score.dev/v1b1\nmetadata: {name: shop}\ncontainers: {web: {image: nginx}}\n"
    "resources:\n  db:\n    type: postgres\n    params:\n      x: '"
)


def _load(text: str) -> None:
    from reconciler.errors import InnominatusError
    from reconciler.score.loader import load_workloads

    with contextlib.suppress(InnominatusError):
        load_workloads(text, file="score.yaml")


def _finishes_within(text: str, seconds: float) -> bool:
    process = multiprocessing.get_context("fork").Process(target=_load, args=(text,))
    process.start()
    process.join(seconds)
    finished = not process.is_alive()
    if not finished:
        process.kill()
        process.join()
    return finished


def test_a_score_value_of_many_unterminated_placeholders_loads_in_linear_time() -> None:
    text = HEAD + "${" * 30_000 + "'\n"  # 60 kB: about 25 s today, milliseconds when linear
    assert _finishes_within(text, 3.0)


def test_a_score_file_with_thousands_of_problems_reports_them_without_a_crash(
    tmp_path: Path,
) -> None:
    from reconciler.score.loader import load_workloads
    from reconciler.score.validate import ScoreError

    body = "".join(
        f"  r{i}:\n    type: 'not a type'\n    params: {{x: '${{resources.nope{i}.x}}'}}\n"
        for i in range(500)
    )
    text = HEAD.split("resources:", maxsplit=1)[0] + "resources:\n" + body
    with pytest.raises(ScoreError) as refused:
        load_workloads(text, file="score.yaml")
    assert len(refused.value.located) >= 1000  # a type problem and a reference per resource

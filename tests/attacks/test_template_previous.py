"""Attack (provider repository): what a template may read at run time that the load-time
checks let through.

``reconciler/providers/references.py`` refuses ``{{ .parameters.nope }}`` when ``nope`` is not
declared ("a reference that cannot exist is a load error"), but checks nothing after
``.previous.parameters``. At run time ``.previous.parameters`` is the resource's *raw* applied
Score params (``reconciler/engine/runner.py``: ``applied_params=raw_params``), not the bound,
declared ones: so ``{{ .previous.parameters.nope }}`` loads, then on update/delete hands the
step a Score param the workflow never declared ("only declared parameters reach a step"), and
on a create it is silently empty.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.providers.documents import InvalidInputError
from reconciler.providers.workflow import load_workflow
from tests.e2e.conftest import SCORE, Story, make_story

HEAD = "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n"
BODY = """\
parameters:
  - {name: size, type: string}
steps:
  - name: only
    type: shell
    config:
      command: [echo, "%s"]
"""


def _load(tmp_path: Path, template: str) -> object:
    path = tmp_path / "w.yaml"
    path.write_text(HEAD + BODY % template)
    return load_workflow(path)


def test_reading_an_undeclared_previous_parameter_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="nope"):
        _load(tmp_path, "{{ .previous.parameters.nope }}")


RANGE = "{{ range $k, $v := .previous.parameters }}{{ $k }}={{ $v }};{{ end }}"
"""Reads every previous parameter without naming one, so the load-time check cannot refuse it
(``{{ .previous.parameters.undeclared }}`` is now a load error): the run-time filter must."""


def _seeing(story: Story, workflow: str, seen: Path) -> None:
    path = story.root / "provider" / "workflows" / f"{workflow}.yaml"
    path.write_text(
        path.read_text().replace("set -eu\n", f"set -eu\n        echo '{RANGE}' > {seen}\n", 1)
    )


def _score(size: str) -> str:
    score = SCORE.split("  route:")[0].replace(
        "      size: {size}\n", "      size: {size}\n      undeclared: not-for-this-workflow\n"
    )
    return score.format(size=size)


def test_naming_an_undeclared_score_param_through_previous_parameters_does_not_load(
    tmp_path: Path,
) -> None:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    update = story.root / "provider" / "workflows" / "update-test-db.yaml"
    update.write_text(
        update.read_text().replace(
            "set -eu\n", "set -eu\n        echo '{{ .previous.parameters.undeclared }}'\n", 1
        )
    )
    story.commit({"apps/shop/score.yaml": _score("small")}, "create")
    result = story.innominatus("reconcile")
    assert result.returncode != 0
    assert "update-test-db.yaml:" in result.stdout + result.stderr
    assert "parameter 'undeclared' is not declared" in result.stdout + result.stderr
    assert story.effects_log() == []


def test_an_undeclared_score_param_never_reaches_a_step_through_previous_parameters(
    tmp_path: Path,
) -> None:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    seen = story.effects / "previous.txt"
    _seeing(story, "update-test-db", seen)
    story.commit({"apps/shop/score.yaml": _score("small")}, "create")
    story.innominatus("reconcile", check=True)
    story.commit({"apps/shop/score.yaml": _score("large")}, "update")
    story.innominatus("reconcile", check=True)
    assert story.effects_log() == ["create db", "update db"]
    text = seen.read_text()
    assert "size=small;" in text  # a declared previous parameter still arrives
    assert "app_name=shop;" in text  # and the engine's built-ins
    assert "undeclared" not in text
    assert "not-for-this-workflow" not in text


def test_nor_reaches_a_delete_step_through_previous_parameters(tmp_path: Path) -> None:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    seen = story.effects / "previous.txt"
    _seeing(story, "delete-test-db", seen)
    story.commit({"apps/shop/score.yaml": _score("small")}, "create")
    story.innominatus("reconcile", check=True)
    story.commit({"apps/shop/score.yaml": None}, "delete")
    assert story.innominatus("reconcile").returncode == 1  # held by the delete guard
    story.innominatus("confirm", "apps", check=True)
    story.innominatus("reconcile", check=True)
    assert story.effects_log() == ["create db", "delete db"]
    text = seen.read_text()
    assert "size=small;" in text
    assert "not-for-this-workflow" not in text

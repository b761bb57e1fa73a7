"""Attack (secrets through planner messages), landed once: a refused parameter whose message
quoted a value built from a secret-named param. Fixed: the planner binds with the values of
secret-named params among the secrets a message never shows.

A workflow parameter's *default* may be a template reading other parameters; it is rendered at
bind time and checked against the parameter's ``pattern``. When the check fails, the message
shows the rendered value unless the parameter's own name is secret or the value holds one of
``secrets`` (``reconciler/providers/parameters.py`` ``shown``). The planner passed as
``secrets`` only values taken from secret *outputs* (``Action.secrets``), never the values of
secret-named params the Score file gives (``db_password: ...``). So a default
``"{{ .parameters.db_password }}"`` on a non-secret parameter copies the password into the
PlanProblem message, and from there into ``innominatus plan`` output (text and JSON), the
resource's ``last_error``, ``innominatus status`` and the status branch.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Story, make_story
from tests.gitutil import git

CANARY = "hunter2canary"
SCORE = f"""\
apiVersion: score.dev/v1b1
metadata: {{name: shop}}
containers: {{web: {{image: nginx}}}}
resources:
  store:
    type: test-db
    params: {{size: small, db_password: {CANARY}}}
"""


def _story(tmp_path: Path) -> Story:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    create = story.root / "provider" / "workflows" / "create-test-db.yaml"
    create.write_text(
        create.read_text().replace(
            "  - {name: admin_password, type: string}\n",
            "  - {name: admin_password, type: string}\n"
            '  - {name: login, type: string, default: "{{ .parameters.db_password }}",'
            ' pattern: "[a-z]+-[0-9]+"}\n',
            1,
        )
    )
    assert "name: login" in create.read_text()
    story.commit({"README.md": "base\n"}, "base")
    git(story.work, "checkout", "--quiet", "-b", "feature")
    story.commit({"apps/shop/score.yaml": SCORE}, "feature")
    return story


def test_a_refused_default_never_quotes_a_secret_params_value(tmp_path: Path) -> None:
    story = _story(tmp_path)
    texts = []
    for fmt in ("text", "json", "markdown"):
        result = story.innominatus(
            "plan",
            "--repo",
            str(story.work),
            "--base",
            "main",
            "--head",
            "feature",
            "--format",
            fmt,
        )
        assert result.returncode == 1, result.stdout + result.stderr  # a problem
        texts.append(result.stdout + result.stderr)
    assert "login" in texts[0]  # the problem is shown ...
    git(story.work, "checkout", "--quiet", "main")
    git(story.work, "merge", "--quiet", "--ff-only", "feature")
    git(story.work, "push", "--quiet", "origin", "main")
    story.innominatus("reconcile")
    status = json.dumps(story.status_json())
    assert "login" in status
    places = {
        "plan text": texts[0],
        "plan json": texts[1],
        "plan markdown": texts[2],
        "innominatus status": status,
        "status branch": json.dumps(story.status_file()),
    }
    leaked = [place for place, text in places.items() if CANARY in text]
    assert leaked == []  # ... never the password

"""Attack (secrets), landed once: a secret that reaches a dependent resource under an output
name that does not say "secret". Fixed: a secret value inside a referenced output is secret in
the dependent's params (logs masked, params sealed), and an output carrying a secret value is
sealed itself.

A provider outputs ``password`` (secret by name) and ``url`` = ``postgres://app:<password>@...``
(a connection URL, as most providers give one). The status document masks the password inside
``url`` by value (``reconciler/status/document.py``). But when another resource's params take
``${resources.db.url}``, the planner only treats a referenced output as secret when *its key*
is secret (``reconciler/plan/inputs.py`` ``_output_lookup``: ``is_secret_key(keys[0], ...)``),
so ``Action.secrets`` misses it; the runner masks step logs with ``action.secrets`` and the
secret-*named* params only, and seals only params holding ``action.secrets``
(``reconciler/engine/runner.py``). The password the database knows to be secret then shows in
the dependent step's log (CLI, API) and sits in the ``applied_params`` plain column.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import make_story
from tests.e2e.test_secret_canary import _plain_database_text

CANARY = "s3cret-canary"
SCORE = """\
apiVersion: score.dev/v1b1
metadata: {name: shop}
containers: {web: {image: nginx}}
resources:
  db:
    type: test-db
    params: {size: small}
  route:
    type: test-route
    params:
      backend: ${resources.db.url}
"""


def test_a_secret_inside_a_non_secret_output_is_masked_in_the_dependents_log_and_sealed(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path / 'state.db'}"
    story = make_story(tmp_path, database)
    create = story.root / "provider" / "workflows" / "create-test-db.yaml"
    create.write_text(
        create.read_text().replace(
            "host=db.internal\\n", f"host=db.internal\\nurl=postgres://app:{CANARY}@db\\n", 1
        )
    )
    assert "url=postgres" in create.read_text()
    route = story.root / "provider" / "workflows" / "create-test-route.yaml"
    route.write_text(
        route.read_text().replace("set -eu\n", 'set -eu\n        echo "using $PARAM_BACKEND"\n', 1)
    )
    story.commit({"apps/shop/score.yaml": SCORE}, "create")
    story.innominatus("reconcile", check=True)
    assert CANARY in (story.effects / "route.txt").read_text()  # the step got what it needs

    status = json.dumps(story.status_json())
    assert CANARY not in status  # masked by value here already
    executions = json.loads(
        story.innominatus("executions", "list", "-o", "json", check=True).stdout
    )
    rows = executions["executions"] if isinstance(executions, dict) else executions
    logs = "\n".join(
        story.innominatus("executions", "logs", str(row["id"]), check=True).stdout for row in rows
    )
    assert "using " in logs  # the search really looks at the route's log
    assert CANARY not in logs, "secret leaked into a step log"
    assert CANARY not in _plain_database_text(database), "secret stored in a plain column"

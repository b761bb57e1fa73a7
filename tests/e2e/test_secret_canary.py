"""A secret never leaves the database except into the steps that need it (invariant 5).

A provider generates a password output (and prints it), a dependent resource receives it as a
param; create, update, a failure and delete run. Then every place a secret could leak is
searched for the canary: the database's plain columns, every CLI output and log line, the
status branch's whole history, every API response. Zero hits.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy import column, create_engine, inspect, select, table
from starlette.testclient import TestClient

from reconciler.api.app import create_app
from reconciler.settings import load_settings
from reconciler.status.views import StatusViews
from reconciler.store import load_or_create_key, open_store
from tests.e2e.conftest import make_story

CANARY = "s3cret-canary"
APP = "apps/shop/score.yaml"
SCORE = """\
apiVersion: score.dev/v1b1
metadata: {{name: shop}}
containers: {{web: {{image: nginx}}}}
resources:
  db:
    type: test-db
    params: {{size: {size}}}
  route:
    type: test-route
    params:
      backend: ${{resources.db.host}}
      db_password: ${{resources.db.password}}
"""


def _plain_database_text(url: str) -> str:
    engine = create_engine(url)
    chunks = []
    try:
        with engine.connect() as connection:
            for name in inspect(engine).get_table_names():
                columns = [c["name"] for c in inspect(engine).get_columns(name)]
                plain = [c for c in columns if not c.startswith("sealed_")]
                rows = table(name, *[column(c) for c in plain])
                chunks.extend(str(row) for row in connection.execute(select(rows)))
    finally:
        engine.dispose()
    return "\n".join(chunks)


def test_a_secret_output_and_a_secret_param_never_leak(tmp_path: Path, database_url: str) -> None:
    story = make_story(tmp_path, database_url)
    create = story.root / "provider" / "workflows" / "create-test-db.yaml"
    create.write_text(
        create.read_text().replace("set -eu\n", f"set -eu\n        echo generated {CANARY}\n", 1)
    )
    route = story.root / "provider" / "workflows" / "create-test-route.yaml"
    route.write_text(
        route.read_text().replace(
            "set -eu\n", 'set -eu\n        echo "using $PARAM_DB_PASSWORD"\n', 1
        )
    )
    outputs: list[str] = []

    def run(*args: str) -> None:
        result = story.innominatus(*args)
        outputs.extend([result.stdout, result.stderr])

    story.commit({APP: SCORE.format(size="small")}, "create")
    run("reconcile")
    story.commit({APP: SCORE.format(size="large")}, "update")
    run("reconcile")
    update = story.root / "provider" / "workflows" / "update-test-db.yaml"
    update.write_text(
        update.read_text().replace("set -eu\n", f"set -eu\n        echo {CANARY} >&2; exit 1\n", 1)
    )
    story.commit({APP: SCORE.format(size="medium")}, "failing update")
    run("reconcile")
    for output in ("json", "yaml", "table"):
        run("status", "--output", output)
    settings = load_settings(story.config)
    key = load_or_create_key(settings.data_dir, env_value=None, create=False)
    assert key is not None
    store = open_store(settings.database, secret_key=key)
    try:
        client = TestClient(create_app(views=StatusViews(store), readiness=lambda: None))
        routes = [
            "/",
            "/api/v1/apps",
            "/api/v1/apps/shop",
            "/api/v1/resources",
            "/api/v1/executions",
            "/api/v1/repositories",
        ]
        ids = [e["id"] for e in client.get("/api/v1/executions").json()["executions"]]
        routes += [f"/api/v1/executions/{i}" for i in ids]
        api = "\n".join(client.get(route).text for route in routes)
    finally:
        store.close()
    assert story.status_json()["apps"][0]["resources"]["db"]["state"] == "failed"
    story.commit({APP: SCORE.format(size="medium").split("  route:")[0]}, "drop route")
    run("reconcile")
    history = subprocess.run(
        ["git", "-C", str(story.bare), "log", "-p", "--all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    database = _plain_database_text(settings.database)

    assert (
        "innominatus-status"
        in subprocess.run(
            ["git", "-C", str(story.bare), "branch"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert "size" in database  # the search really looks at the rows
    for place, text in {
        "database plain columns": database,
        "CLI output and logs": "\n".join(outputs),
        "status branch history": history,
        "API responses": api,
    }.items():
        assert CANARY not in text, f"secret leaked into the {place}"
    # ... while the step that needed it got it.
    assert CANARY in (story.effects / "log.txt").read_text()

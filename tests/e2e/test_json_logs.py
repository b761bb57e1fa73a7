"""``log_format: json`` (issue 15): every line the console script logs is one JSON object, and
the lines about an execution carry its app, resource and execution as fields of their own."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from reconciler import logcontext
from tests.e2e.conftest import SCORE, make_story

APP = "apps/shop/score.yaml"


def test_a_reconcile_logs_one_json_object_per_line_with_app_resource_and_execution(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, extra_config="log_format: json\n")
    story.commit({APP: SCORE.format(size="small")}, "add shop")

    result = story.innominatus("reconcile", process=True)

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    others = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert others == [] or all(not o.startswith("20") for o in others), others  # no text logs
    assert lines, result.stderr
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    started = [line for line in lines if " with test-team/" in line["message"]]
    assert {line["resource"] for line in started} == {
        "test-db.default#shop.db",
        "test-route.default#shop.route",
    }
    assert all(line["app"] == "shop" and isinstance(line["execution"], int) for line in started)


def test_what_one_task_is_about_never_reaches_another_tasks_lines() -> None:
    async def work(name: str, seen: dict[str, dict[str, object]]) -> None:
        logcontext.bind(app=name)
        await asyncio.sleep(0)
        seen[name] = logcontext.fields()

    async def both() -> dict[str, dict[str, object]]:
        seen: dict[str, dict[str, object]] = {}
        await asyncio.gather(work("shop", seen), work("blog", seen))
        return seen

    assert asyncio.run(both()) == {"shop": {"app": "shop"}, "blog": {"app": "blog"}}
    assert logcontext.fields() == {}
    with logcontext.about(app="shop"):
        assert logcontext.fields() == {"app": "shop"}
    assert logcontext.fields() == {}

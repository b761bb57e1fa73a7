"""``innominatus mcp``: the read-only MCP server, driven by the official SDK's client over stdio
(``python -m reconciler mcp --config ...`` as a subprocess) on a store a real reconcile of a
real repository filled (SQLite and PostgreSQL): an app with a resource whose secret output is
a canary, a golden path run whose secret output is another, their executions and logs, and a
feature branch to plan. Every tool answers from the same read paths as the CLI and the API;
no answer holds a canary; errors are one-line results.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult, TextContent

from tests.e2e.conftest import SCORE, Story
from tests.e2e.test_golden_path_runs import RUN, golden_story
from tests.gitutil import commit_files, git

CANARIES = ("s3cret-canary", "tok-canary-4711")
"""The story's database password and the golden path's token: secret outputs."""
TOOLS = {
    "list_apps",
    "get_app",
    "list_resources",
    "get_resource",
    "list_executions",
    "get_execution",
    "get_execution_logs",
    "list_providers",
    "list_resource_types",
    "list_golden_paths",
    "plan",
}

Session = Callable[[ClientSession], Awaitable[Any]]


def seeded(tmp_path: Path, database_url: str) -> Story:
    """One real reconcile: app ``shop`` (``db`` with a secret password, ``route``) and the
    golden path run ``onboard-payments`` (a secret token, also printed to its log); then a
    branch ``feature`` that resizes ``db``, left unmerged for ``plan``."""
    # The golden path also prints its token to its log: the log is recorded masked.
    story = golden_story(tmp_path, database_url, extra='echo "the token: tok-canary-4711"')
    story.commit(
        {"shop/score.yaml": SCORE.format(size="small"), "runs/onboard.yaml": RUN.format(size=2)},
        "shop and a golden path run",
    )
    story.innominatus("reconcile", check=True)
    git(story.work, "checkout", "--quiet", "-b", "feature")
    commit_files(story.work, {"shop/score.yaml": SCORE.format(size="large")}, "resize db")
    git(story.work, "checkout", "--quiet", "main")
    return story


def with_server(story: Story, use: Session) -> Any:
    """Start ``innominatus mcp --config`` with the SDK's stdio client and run ``use``."""
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "reconciler", "mcp", "--config", str(story.config)],
        cwd=story.root,
    )

    async def main() -> Any:
        async with (
            stdio_client(server) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await use(session)

    return anyio.run(main)


def text_of(result: Any) -> str:
    assert isinstance(result, CallToolResult), result
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


def error_of(name: str, result: Any) -> str:
    """A failed call's message, without the SDK's ``Error executing tool NAME:`` prefix."""
    assert isinstance(result, CallToolResult), result
    assert result.is_error, (name, text_of(result))
    prefix = f"Error executing tool {name}: "
    assert text_of(result).startswith(prefix), text_of(result)
    return text_of(result).removeprefix(prefix)


def answer(result: Any) -> dict[str, Any]:
    """A successful call's document (the structured content, equal to its text)."""
    assert isinstance(result, CallToolResult), result
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert json.loads(text_of(result)) == result.structured_content
    return result.structured_content


@pytest.fixture
def story(tmp_path: Path, database_url: str) -> Story:
    return seeded(tmp_path, database_url)


def test_every_tool_answers_from_the_recorded_state_and_none_holds_a_secret(
    story: Story,
) -> None:
    async def use(session: ClientSession) -> dict[str, Any]:
        listed = await session.list_tools()
        results: dict[str, Any] = {"tools": listed.tools}
        apps = answer(await session.call_tool("list_apps", {}))
        results["list_apps"] = apps
        results["get_app"] = answer(await session.call_tool("get_app", {"app": "shop"}))
        results["list_resources"] = answer(
            await session.call_tool("list_resources", {"app": "shop"})
        )
        results["get_resource"] = answer(
            await session.call_tool("get_resource", {"app": "shop", "resource": "db"})
        )
        executions = answer(await session.call_tool("list_executions", {}))
        results["list_executions"] = executions
        results["of_shop"] = answer(await session.call_tool("list_executions", {"app": "shop"}))
        results["get_execution"] = [
            answer(await session.call_tool("get_execution", {"execution": e["id"]}))
            for e in executions["executions"]
        ]
        results["get_execution_logs"] = [
            answer(await session.call_tool("get_execution_logs", {"execution": e["id"]}))
            for e in executions["executions"]
        ]
        results["list_providers"] = answer(await session.call_tool("list_providers", {}))
        results["list_resource_types"] = answer(await session.call_tool("list_resource_types", {}))
        results["list_golden_paths"] = answer(await session.call_tool("list_golden_paths", {}))
        results["plan"] = answer(
            await session.call_tool(
                "plan", {"repository_path": str(story.work), "base": "main", "head": "feature"}
            )
        )
        results["texts"] = [
            text_of(await session.call_tool(name, {}))
            for name in ("list_apps", "list_resources", "list_executions")
        ]
        return results

    results = with_server(story, use)
    tools = {tool.name: tool for tool in results.pop("tools")}
    assert set(tools) == TOOLS
    assert all(tool.annotations and tool.annotations.read_only_hint for tool in tools.values())

    (shop,) = results["list_apps"]["apps"]
    assert shop["name"] == "shop"
    assert shop["phase"] == "Ready"
    assert shop["resources"] == {"active": 2}
    assert results["list_apps"]["total"] == 1
    assert results["list_apps"]["next_after"] is None

    app = results["get_app"]
    assert app["app"] == "shop"
    assert app["phase"] == "Ready"
    assert set(app["resources"]) == {"db", "route"}
    assert app["resources"]["db"]["outputs"]["host"] == "db.internal"
    assert app["resources"]["db"]["outputs"]["password"].startswith("***")

    assert {r["name"] for r in results["list_resources"]["resources"]} == {"db", "route"}
    db = results["get_resource"]
    assert (db["app"], db["name"], db["type"], db["state"]) == ("shop", "db", "test-db", "active")
    assert db["outputs"]["password"].startswith("***")

    executions = results["list_executions"]["executions"]
    assert {e["app"] for e in executions} == {"shop", "onboard-payments"}
    assert {e["app"] for e in results["of_shop"]["executions"]} == {"shop"}
    assert {e["state"] for e in executions} == {"succeeded"}
    for execution in results["get_execution"]:
        assert [s["name"] for s in execution["steps"]] == ["effect"]
        assert execution["steps"][0]["state"] == "succeeded"
    for logs in results["get_execution_logs"]:
        assert logs["state"] == "succeeded"
        assert logs["steps"][0]["name"] == "effect"
    assert any(
        "the token: ***" in logs["steps"][0]["log"] for logs in results["get_execution_logs"]
    )

    (provider,) = results["list_providers"]["providers"]
    assert (provider["name"], provider["version"]) == ("test-team", "1.0.0")
    assert provider["types"] == ["test-db", "test-route"]
    assert results["list_providers"]["refused"] is None

    types = {t["type"]: t for t in results["list_resource_types"]["types"]}
    assert set(types) == {"test-db", "test-route"}
    (create,) = types["test-db"]["create_workflows"]
    assert create["workflow"] == "create-test-db"
    assert create["params"]["properties"]["size"]["anyOf"][0] == {"type": "string"}

    (golden,) = results["list_golden_paths"]["goldenpaths"]
    assert (golden["provider"], golden["name"]) == ("test-team", "onboard-team")
    parameters = {p["name"]: p for p in golden["parameters"]}
    assert parameters["team"]["required"] is True
    assert (parameters["size"]["type"], parameters["size"]["max"]) == ("integer", 5)

    plan = results["plan"]
    assert plan["schema_version"] == 1
    assert plan["exit_code"] == 2
    (planned,) = plan["apps"]
    assert planned["app"] == "shop"
    (action,) = planned["actions"]
    assert (action["uid"], action["operation"]) == ("test-db.default#shop.db", "update")

    everything = json.dumps(results)
    for canary in CANARIES:
        assert canary not in everything, canary


def test_an_unknown_app_resource_or_execution_is_a_one_line_error_result(
    story: Story,
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_app", {"app": "nosuch"}),
        ("list_resources", {"app": "nosuch"}),
        ("get_resource", {"app": "shop", "resource": "nosuch"}),
        ("get_execution", {"execution": 999_999}),
        ("get_execution_logs", {"execution": 999_999}),
        ("plan", {"repository_path": str(story.root / "nosuch")}),
    ]

    async def use(session: ClientSession) -> list[Any]:
        return [await session.call_tool(name, arguments) for name, arguments in calls]

    results = with_server(story, use)
    messages = {}
    for (name, _), result in zip(calls, results, strict=True):
        message = error_of(name, result)
        assert "\n" not in message, message
        assert "Traceback" not in message
        messages[name] = message
    assert messages["get_app"] == "no app named 'nosuch'; list_apps lists the apps"
    assert messages["list_resources"] == messages["get_app"]
    assert "has no resource 'nosuch'; its resources: db, route" in messages["get_resource"]
    assert messages["get_execution"] == "no execution 999999; list_executions shows recent ones"
    assert "nosuch" in messages["plan"]


def test_invalid_arguments_are_refused_before_anything_is_read(story: Story) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_app", {"app": "shop\x00"}),
        ("get_app", {}),
        ("list_apps", {"limit": 0}),
        ("list_apps", {"limit": 1001}),
        ("list_executions", {"app": "a\x00b"}),
        ("get_execution", {"execution": 2**31}),
        ("get_execution", {"execution": "one"}),
        ("no_such_tool", {}),
    ]

    async def use(session: ClientSession) -> list[Any]:
        return [await session.call_tool(name, arguments) for name, arguments in calls]

    for (name, arguments), result in zip(calls, with_server(story, use), strict=True):
        assert result.is_error, (name, arguments, text_of(result))
        assert "Traceback" not in text_of(result)


def test_apps_are_paged_with_next_after(tmp_path: Path, database_url: str) -> None:
    story = seeded(tmp_path, database_url)
    second = SCORE.format(size="small").replace("name: shop", "name: cart")
    story.commit({"cart/score.yaml": second}, "a second app")
    story.innominatus("reconcile", check=True)

    async def use(session: ClientSession) -> list[dict[str, Any]]:
        first = answer(await session.call_tool("list_apps", {"limit": 1}))
        rest = answer(
            await session.call_tool("list_apps", {"limit": 1, "after": first["next_after"]})
        )
        found = answer(await session.call_tool("list_apps", {"name_contains": "SHO"}))
        return [first, rest, found]

    first, rest, found = with_server(story, use)
    assert [a["name"] for a in first["apps"]] == ["cart"]
    assert (first["total"], first["next_after"]) == (2, "cart")
    assert [a["name"] for a in rest["apps"]] == ["shop"]
    assert rest["next_after"] is None
    assert [a["name"] for a in found["apps"]] == ["shop"]


def test_without_a_database_the_store_tools_say_so_and_the_others_still_answer(
    tmp_path: Path,
) -> None:
    story = seeded(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    (tmp_path / "state.db").rename(tmp_path / "elsewhere.db")

    async def use(session: ClientSession) -> list[Any]:
        return [
            await session.call_tool("list_apps", {}),
            await session.call_tool("list_providers", {}),
        ]

    apps, providers = with_server(story, use)
    message = error_of("list_apps", apps)
    assert message.startswith(f"no database at {tmp_path / 'state.db'}")
    assert "innominatus run" in message
    assert "\n" not in message
    assert not (tmp_path / "state.db").exists(), "the server never creates a database"
    assert answer(providers)["providers"][0]["name"] == "test-team"


def test_without_the_mcp_extra_the_command_says_to_install_it_in_one_line(
    tmp_path: Path,
) -> None:
    # The SDK is made unimportable in that process only (a None entry in sys.modules is how
    # Python spells "this module cannot be imported"): the same ModuleNotFoundError as when
    # the extra is not installed.
    absent = "import sys; sys.modules['mcp'] = None; from reconciler.cli import main; main()"
    config = tmp_path / "cfg.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'state.db'}\ndata_dir: {tmp_path}\n")
    result = subprocess.run(
        [sys.executable, "-c", absent, "mcp", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: the MCP server needs the MCP Python SDK")
    assert "innominatus[mcp]" in result.stderr

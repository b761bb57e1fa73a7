"""Resources shared between apps through a Score `id`: provisioned once, released while other
apps still declare them, deleted with the last one; a conflicting declaration makes only the
newcomer Invalid, naming the incumbent's file (the incumbent keeps running)."""

from __future__ import annotations

from tests.e2e.conftest import Story

SHOP = "apps/shop/score.yaml"
BLOG = "apps/blog/score.yaml"


def app(name: str, *, cache: str | None = "small") -> str:
    text = (
        "apiVersion: score.dev/v1b1\n"
        f"metadata: {{name: {name}}}\n"
        "containers: {web: {image: nginx}}\n"
        "resources:\n"
        "  own:\n    type: test-route\n    params: {backend: x}\n"
    )
    if cache is not None:
        text += (
            f"  cache:\n    type: test-db\n    id: shared-cache\n    params: {{size: {cache}}}\n"
        )
    return text


def states(story: Story) -> dict[str, dict[str, str]]:
    return {
        a["app"]: {n: r["state"] for n, r in a["resources"].items()}
        for a in story.status_json()["apps"]
    }


def test_a_shared_resource_is_created_once_and_deleted_with_its_last_declaration(
    story: Story,
) -> None:
    story.commit({SHOP: app("shop"), BLOG: app("blog")}, "two apps share a cache")
    story.innominatus("reconcile", check=True)
    creates = [line for line in story.effects_log() if line.startswith("create cache")]
    assert len(creates) == 1
    assert states(story) == {
        "blog": {"cache": "active", "own": "active"},
        "shop": {"cache": "active", "own": "active"},
    }
    story.commit({BLOG: app("blog", cache=None)}, "blog stops using the cache")
    story.innominatus("reconcile", check=True)
    assert "delete cache" not in story.effects_log()
    assert states(story)["blog"] == {"own": "active"}
    assert states(story)["shop"]["cache"] == "active"
    story.commit({SHOP: app("shop", cache=None)}, "the last user drops it")
    story.innominatus("reconcile", check=True)
    assert story.effects_log().count("delete cache") == 1
    assert states(story)["shop"] == {"own": "active"}


def test_a_conflicting_declaration_makes_only_the_newcomer_invalid_until_fixed(
    story: Story,
) -> None:
    story.commit({SHOP: app("shop")}, "shop declares the cache first")
    story.innominatus("reconcile", check=True)
    story.commit({BLOG: app("blog", cache="large")}, "blog disagrees")
    result = story.innominatus("reconcile")
    assert result.returncode == 1
    apps = {a["app"]: a for a in story.status_json()["apps"]}
    assert apps["shop"]["phase"] == "Ready"  # the incumbent keeps running
    assert apps["blog"]["phase"] == "Invalid"
    assert "app 'shop' (apps/shop/score.yaml)" in apps["blog"]["conditions"][0]["message"]
    assert [line for line in story.effects_log() if "cache" in line] == ["create cache"]
    story.commit({BLOG: app("blog", cache="small")}, "agree")
    story.innominatus("reconcile", check=True)
    assert {a["phase"] for a in story.status_json()["apps"]} == {"Ready"}
    assert [line for line in story.effects_log() if "cache" in line] == ["create cache"]


def test_of_two_new_conflicting_declarations_the_first_file_wins(story: Story) -> None:
    story.commit({SHOP: app("shop"), BLOG: app("blog", cache="large")}, "disagree")
    result = story.innominatus("reconcile")
    assert result.returncode == 1
    apps = {a["app"]: a for a in story.status_json()["apps"]}
    assert apps["blog"]["phase"] == "Ready"  # apps/blog/score.yaml sorts first
    assert apps["shop"]["phase"] == "Invalid"
    assert "app 'blog' (apps/blog/score.yaml)" in apps["shop"]["conditions"][0]["message"]

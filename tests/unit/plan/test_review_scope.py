"""Which files a pull-request review parses: only those that can differ."""

from __future__ import annotations

import hashlib

from reconciler.plan.review.scope import compared_states
from tests.unit.plan.test_review_scenario import db, score


def trees(
    base: dict[str, str], head: dict[str, str]
) -> tuple[dict[str, str], dict[str, str], dict[str, bytes]]:
    """``{path: blob id}`` of each side, and every blob, as git would give them."""
    blobs: dict[str, bytes] = {}

    def tree(files: dict[str, str]) -> dict[str, str]:
        out = {}
        for path, text in files.items():
            blob = hashlib.sha1(text.encode()).hexdigest()
            blobs[blob] = text.encode()
            out[path] = blob
        return out

    return tree(base), tree(head), blobs


MANY = {
    f"apps/app-{i:03d}/score.yaml": score(f"app-{i:03d}", "  db:\n" + db("s")) for i in range(200)
}


def test_only_changed_files_are_parsed_when_nothing_else_is_related() -> None:
    head = MANY | {"apps/app-007/score.yaml": score("app-007", "  db:\n" + db("m"))}
    compared = compared_states(*trees(MANY, head), workload=False)
    assert sorted(compared.head.apps) == ["app-007"]
    assert sorted(compared.base.apps) == ["app-007"]
    assert compared.parsed == 3  # both sides of the change, and one file to prove others live
    assert compared.outside_live == 1


def test_a_name_is_searched_whole_so_app_4_does_not_pull_in_app_42() -> None:
    base = {f"apps/{n}/score.yaml": score(n, "  db:\n" + db("s")) for n in ("app-4", "app-42")}
    head = base | {"apps/app-4/score.yaml": score("app-4", "  db:\n" + db("m"))}
    compared = compared_states(*trees(base, head), workload=False)
    assert sorted(compared.head.apps) == ["app-4"]


def test_unchanged_files_naming_a_changed_app_are_parsed_on_both_sides() -> None:
    copy = {"apps/new/score.yaml": score("app-007", "  extra:\n" + db("s"))}
    compared = compared_states(*trees(MANY, MANY | copy), workload=False)
    assert "app-007" in compared.head.invalid_apps
    assert "app-007" in compared.base.apps


def test_unchanged_files_declaring_a_changed_shared_id_are_parsed() -> None:
    shared = "  cache:\n    type: test-db\n    id: the-cache\n"
    base = {"apps/aa/score.yaml": score("aa", shared), "apps/bb/score.yaml": score("bb", shared)}
    head = base | {"apps/aa/score.yaml": score("aa", "  xx:\n" + db("s"))}
    compared = compared_states(*trees(base, head), workload=False)
    assert sorted(compared.head.apps) == ["aa", "bb"]


def test_without_other_resources_nothing_outside_is_live() -> None:
    base = {"apps/aa/score.yaml": score("aa", "  db:\n" + db("s")), "README.yaml": "x: 1\n"}
    compared = compared_states(*trees(base, {"README.yaml": "x: 1\n"}), workload=False)
    assert compared.outside_live == 0


def test_with_the_workload_type_any_app_elsewhere_is_live() -> None:
    app = "apiVersion: score.dev/v1b1\nmetadata: {name: cc}\ncontainers: {web: {image: x}}\n"
    bare = {"apps/cc/score.yaml": app}
    base = bare | {"apps/aa/score.yaml": score("aa", "  db:\n" + db("s"))}
    assert compared_states(*trees(base, bare), workload=False).outside_live == 0
    assert compared_states(*trees(base, bare), workload=True).outside_live == 1


def test_a_file_broken_before_and_after_is_not_this_change_s_problem() -> None:
    broken = {"apps/zz/score.yaml": "apiVersion: [\n"}
    head = MANY | broken | {"apps/app-001/score.yaml": score("app-001", "")}
    compared = compared_states(*trees(MANY | broken, head), workload=False)
    assert "apps/zz/score.yaml" not in compared.head.invalid_files

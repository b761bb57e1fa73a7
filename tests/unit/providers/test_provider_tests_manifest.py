"""The ``tests:`` key of provider.yaml (the cases ``innominatus providers test`` runs) and the
``providers init`` scaffold: valid cases load into ``Provider.tests``; malformed expectations,
missing Score files and unknown keys refuse the provider at their ``file:line``; the scaffold
refuses bad names and makes a provider that loads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.executors.registry import default_registry
from reconciler.providers import InvalidInputError, load_provider
from reconciler.providers.manifest import Expectation, ProviderTest, UpdateStage
from reconciler.providers.scaffold import scaffold
from tests.unit.providers.conftest import MakeProvider

MANIFEST = """\
apiVersion: v1
kind: Provider
metadata:
  name: queue
  version: 1.0.0
capabilities:
  resourceTypeCapabilities:
    - type: queue
      operations:
        create: {workflow: create-queue}
        delete: {workflow: delete-queue}
workflows:
  - {name: create-queue, file: ./workflows/create-queue.yaml, operation: create}
  - {name: delete-queue, file: ./workflows/delete-queue.yaml, operation: delete}
"""
WORKFLOWS: dict[str, str | None] = {"create-queue": None, "delete-queue": None}
SCORE = "apiVersion: score.dev/v1b1\nmetadata: {name: qtest}\ncontainers: {main: {image: x}}\n"


def provider_with(make_provider: MakeProvider, tests: str) -> Path:
    """A provider whose manifest ends with ``tests:`` + ``tests`` (dedented); Score files
    tests/app.score.yaml and tests/more.score.yaml exist."""
    root = make_provider(MANIFEST + "tests:\n" + textwrap.dedent(tests), WORKFLOWS)
    (root / "tests").mkdir(exist_ok=True)
    for name in ("app", "more"):
        (root / "tests" / f"{name}.score.yaml").write_text(SCORE)
    return root


def problems_of(root: Path) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        load_provider(root)
    return [problem.message for problem in caught.value.problems]


def at(root: Path, text: str, occurrence: int = 1) -> str:
    """``file:line:column`` of the ``occurrence``-th ``text`` in provider.yaml."""
    seen = 0
    for number, line in enumerate((root / "provider.yaml").read_text().splitlines(), start=1):
        if text in line:
            seen += 1
            if seen == occurrence:
                return f"{root}/provider.yaml:{number}:{line.index(text) + 1}"
    raise AssertionError(f"{text!r} not in {root}/provider.yaml")


def test_a_provider_without_tests_loads_with_none(make_provider: MakeProvider) -> None:
    provider = load_provider(make_provider(MANIFEST, WORKFLOWS))

    assert provider.tests == ()


def test_a_minimal_case_loads_with_its_defaults(make_provider: MakeProvider) -> None:
    root = provider_with(
        make_provider,
        """\
        - name: creates a queue
          score: tests/app.score.yaml
        """,
    )

    (case,) = load_provider(root).tests

    assert case == ProviderTest(name="creates a queue", score="tests/app.score.yaml")
    assert case.parameters == {}
    assert case.requires_env == []
    assert case.expect == Expectation(phase="Ready", outputs={})
    assert case.update is None


def test_a_full_case_loads_into_provider_tests(make_provider: MakeProvider) -> None:
    root = provider_with(
        make_provider,
        """\
        - name: creates and resizes a queue
          score: tests/app.score.yaml
          parameters: {region: eu-west-1, replicas: 2}
          requires_env: [QUEUE_ADMIN_TOKEN]
          expect:
            phase: Ready
            outputs:
              q:
                name: qtest-q
                size: 3
                durable: true
                ratio: 0.5
                id: {matches: '^[0-9a-f]{16}$'}
                password: {secret: true}
          update:
            score: tests/more.score.yaml
            expect:
              outputs:
                q: {size: 5}
        - name: refuses a bad size
          score: tests/more.score.yaml
          expect: {phase: Failed}
        """,
    )

    first, second = load_provider(root).tests

    assert first.name == "creates and resizes a queue"
    assert first.parameters == {"region": "eu-west-1", "replicas": 2}
    assert first.requires_env == ["QUEUE_ADMIN_TOKEN"]
    assert first.expect.phase == "Ready"
    assert first.expect.outputs == {
        "q": {
            "name": "qtest-q",
            "size": 3,
            "durable": True,
            "ratio": 0.5,
            "id": {"matches": "^[0-9a-f]{16}$"},
            "password": {"secret": True},
        }
    }
    assert first.update == UpdateStage(
        score="tests/more.score.yaml", expect=Expectation(outputs={"q": {"size": 5}})
    )
    assert (second.name, second.expect.phase, second.update) == (
        "refuses a bad size",
        "Failed",
        None,
    )


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("[1, 2]", "a list"),
        ("{secret: false}", "a mapping"),
        ("{matches: 5}", "a mapping"),
        ("{matches: '^a', secret: true}", "a mapping"),
        ("{equals: 1}", "a mapping"),
        ("null", "null"),
    ],
)
def test_an_expected_output_of_another_shape_is_refused_at_its_line(
    make_provider: MakeProvider, written: str, shown: str
) -> None:
    root = provider_with(
        make_provider,
        f"""\
        - name: shapes
          score: tests/app.score.yaml
          expect:
            outputs:
              q:
                ok: fine
                bad: {written}
        """,
    )

    assert problems_of(root) == [
        f"{at(root, 'bad:')}: tests[0].expect.outputs.q.bad: {shown} is not "
        "an expected output; write a value, {matches: REGEX} or {secret: true}"
    ]


def test_an_invalid_regular_expression_is_refused_at_its_line(
    make_provider: MakeProvider,
) -> None:
    root = provider_with(
        make_provider,
        """\
        - name: regex
          score: tests/app.score.yaml
          expect:
            outputs:
              q: {id: {matches: '[0-9'}}
        """,
    )

    (problem,) = problems_of(root)

    assert problem.startswith(
        f"{at(root, 'id:')}: tests[0].expect.outputs.q.id: matches: '[0-9' "
        "is not a regular expression: "
    )


def test_every_bad_expectation_is_reported_at_once(make_provider: MakeProvider) -> None:
    root = provider_with(
        make_provider,
        """\
        - name: one
          score: tests/app.score.yaml
          expect:
            outputs:
              q: {a: [1], b: {matches: '('}}
          update:
            score: tests/more.score.yaml
            expect:
              outputs:
                q: {c: {secret: no}}
        """,
    )

    problems = problems_of(root)

    assert [problem.split(": ")[1] for problem in problems] == [
        "tests[0].expect.outputs.q.a",
        "tests[0].expect.outputs.q.b",
        "tests[0].update.expect.outputs.q.c",
    ]
    assert problems[0].startswith(f"{at(root, 'a: [1]')}: ")
    assert problems[1].startswith(f"{at(root, 'b: {matches')}: ")
    assert problems[2].startswith(f"{at(root, 'c: {secret')}: ")


def test_an_unknown_phase_is_refused(make_provider: MakeProvider) -> None:
    root = provider_with(
        make_provider,
        """\
        - name: phase
          score: tests/app.score.yaml
          expect: {phase: Running}
        """,
    )

    assert problems_of(root) == [
        f"{at(root, 'phase:')}: tests[0].expect.phase: must be 'Ready' or 'Failed', got 'Running'"
    ]


@pytest.mark.parametrize(
    ("case", "key", "where"),
    [
        ("  scores: tests/more.score.yaml\n", "scores", "tests[0]"),
        ("  expect: {outputs: {}, output: {}}\n", "output", "tests[0].expect"),
        ("  update: {score: tests/more.score.yaml, expected: {}}\n", "expected", "tests[0].update"),
    ],
)
def test_an_unknown_key_is_refused_at_its_line(
    make_provider: MakeProvider, case: str, key: str, where: str
) -> None:
    root = provider_with(make_provider, "- name: typo\n  score: tests/app.score.yaml\n" + case)

    assert problems_of(root) == [
        f"{at(root, key + ':')}: {where}: unknown key '{key}'; remove it or fix its spelling"
    ]


def test_a_case_without_a_score_file_is_refused(make_provider: MakeProvider) -> None:
    root = provider_with(make_provider, "- name: no score\n")

    assert problems_of(root) == [
        f"{at(root, 'name: no score')}: tests[0].score is required; add it"
    ]


def test_a_missing_score_file_refuses_the_provider_at_the_score_line(
    make_provider: MakeProvider,
) -> None:
    root = provider_with(
        make_provider,
        """\
        - name: fine
          score: tests/app.score.yaml
        - name: gone
          score: tests/gone.score.yaml
        """,
    )

    assert problems_of(root) == [
        f"{at(root, 'score: tests/gone')}: test 'gone': Score file tests/gone.score.yaml not "
        f"found inside {root.resolve()}; fix the path or add the file"
    ]


def test_a_score_file_outside_the_provider_folder_is_refused(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    (tmp_path / "outside.score.yaml").write_text(SCORE)
    root = provider_with(
        make_provider,
        """\
        - name: escapes
          score: ../outside.score.yaml
        """,
    )

    (problem,) = problems_of(root)

    assert problem.startswith(f"{at(root, 'score: ../outside')}: test 'escapes': Score file")
    assert "../outside.score.yaml not found inside" in problem


def test_a_score_path_naming_a_folder_is_refused(make_provider: MakeProvider) -> None:
    root = provider_with(make_provider, "- name: folder\n  score: tests\n")

    (problem,) = problems_of(root)

    assert problem.startswith(f"{at(root, 'score: tests')}: test 'folder': Score file")


def missing_update_score(make_provider: MakeProvider) -> tuple[Path, list[str]]:
    root = provider_with(
        make_provider,
        """\
        - name: resize
          score: tests/app.score.yaml
          update:
            score: tests/bigger.score.yaml
        """,
    )
    return root, problems_of(root)


def test_a_missing_update_score_file_refuses_the_provider(make_provider: MakeProvider) -> None:
    root, problems = missing_update_score(make_provider)

    (problem,) = problems
    assert problem.startswith(f"{root}/provider.yaml:")
    assert problem.endswith(
        f"test 'resize': Score file tests/bigger.score.yaml not found inside {root.resolve()}; "
        "fix the path or add the file"
    )


def test_a_missing_update_score_file_is_reported_at_the_update_score_line(
    make_provider: MakeProvider,
) -> None:
    root, problems = missing_update_score(make_provider)

    assert problems[0].startswith(f"{at(root, 'score: tests/bigger')}: ")


def test_scaffold_makes_a_provider_that_loads_with_the_default_step_types(
    tmp_path: Path,
) -> None:
    root = tmp_path / "my-queue"
    files = scaffold("my-queue")
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)

    provider = load_provider(
        root, name="my-queue", known_step_types=default_registry().known_types()
    )

    assert (provider.name, provider.version) == ("my-queue", "0.1.0")
    assert sorted(provider.types["my-queue"]) == ["create", "delete", "update"]
    assert sorted(provider.workflows) == ["create-my-queue", "delete-my-queue", "update-my-queue"]
    (case,) = provider.tests
    assert case.score in files
    assert case.update is not None
    assert case.update.score in files
    assert case.expect.outputs["store"]["size"] == "small"
    assert case.update.expect.outputs == {"store": {"size": "large"}}
    assert "README.md" in files


def test_scaffold_is_pure_and_names_everything_after_the_provider() -> None:
    first, second = scaffold("cache"), scaffold("cache")

    assert first == second
    assert "name: cache\n" in first["provider.yaml"]
    assert "type: cache\n" in first["provider.yaml"]
    assert "type: cache\n" in first["tests/app.score.yaml"]
    assert "size: large" in first["tests/app-bigger.score.yaml"]
    assert "size: large" not in first["tests/app.score.yaml"]


@pytest.mark.parametrize("name", ["ab", "my-queue", "queue2", "2fa", "a" * 58])
def test_scaffold_accepts_lower_case_dns_label_names(name: str, tmp_path: Path) -> None:
    root = tmp_path / "p"
    for relative, text in scaffold(name).items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)

    assert load_provider(root).name == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "My-Queue",
        "-queue",
        "queue-",
        "my_queue",
        "my queue",
        "queue.v2",
        "a" * 64,
        "a" * 59,
        "q",
        "queue\n",
    ],
)
def test_scaffold_refuses_a_bad_name_saying_what_a_name_is(name: str) -> None:
    with pytest.raises(ValueError) as caught:
        scaffold(name)

    assert str(caught.value) == (
        f"{name!r} is not a provider name; use 2 to 58 lower-case letters, digits and '-', "
        "starting and ending with a letter or digit, such as my-queue"
    )

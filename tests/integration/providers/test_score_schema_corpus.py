"""The schema ``innominatus schema`` writes, for the built-in and the corpus providers, judged
with a JSON Schema validator against every corpus Score example and typical mistakes.

Corpus examples whose resource types no loaded provider claims (the Score project's own
examples use types such as ``redis`` and ``amqp``; the innominatus examples name types of
providers not in the set) fail on ``resources.*.type``; otherwise a file fails exactly where
the official schema fails it (the original innominatus' archived examples are not Score:
``workflows``, ``variables`` at the top, no ``containers``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.plan.binding import bind
from reconciler.providers.registry import ProviderSet, load_provider_set
from reconciler.providers.schema import score_schema
from reconciler.score.schema import official_schema
from reconciler.settings import ProviderSourceSettings
from reconciler.yamlfile import load_documents
from tests.tools import need

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT.parent / "shared" / "corpus"
CORPUS_PROVIDERS = CORPUS / "innominatus" / "providers"
EXAMPLE_FOLDERS = (
    CORPUS / "score" / "examples",
    CORPUS / "innominatus" / "examples",
    CORPUS_PROVIDERS,
)


def provider_set(folder: Path) -> ProviderSet:
    sources = [
        ProviderSourceSettings(name=manifest.parent.name, path=manifest.parent)
        for manifest in sorted(folder.glob("*/provider.yaml"))
        if manifest.parent.name != "builtin"  # refused: no workflows, no types
    ]
    return load_provider_set(sources)


@pytest.fixture(scope="module")
def builtin() -> jsonschema.Draft202012Validator:
    schema = score_schema(provider_set(ROOT / "providers"), base=official_schema())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def corpus() -> jsonschema.Draft202012Validator:
    need(CORPUS_PROVIDERS.is_dir(), f"corpus not found at {CORPUS_PROVIDERS}; clone ../shared")
    schema = score_schema(provider_set(CORPUS_PROVIDERS), base=official_schema())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def score_examples() -> Iterator[tuple[Path, int, dict[str, Any]]]:
    for folder in EXAMPLE_FOLDERS:
        for path in sorted(folder.rglob("*.y*ml")) if folder.is_dir() else ():
            for index, document in enumerate(load_documents(path.read_bytes(), file=str(path))):
                data = document.data
                if isinstance(data, dict) and str(data.get("apiVersion", "")).startswith(
                    "score.dev/"
                ):
                    yield path, index, data


def refused_by_binding(providers: ProviderSet, document: dict[str, Any]) -> set[str]:
    """Resources whose params the planner's binding refuses (a required one missing...)."""
    refused = set()
    for name, spec in (document.get("resources") or {}).items():
        if providers.claims(spec.get("type", "")) is None:
            continue
        binding = bind(
            providers,
            app="a",
            name=name,
            uid=f"{spec['type']}.default#a.{name}",
            type_=spec["type"],
            class_="default",
            operation="create",
            annotations={},
            params=spec.get("params") or {},
        )
        if binding.problem is not None:
            refused.add(name)
    return refused


def verdicts(
    check: jsonschema.Draft202012Validator, document: dict[str, Any]
) -> tuple[set[tuple[str, ...]], list[str]]:
    """Paths of errors on an unclaimed type, and every other error."""
    types, other = set(), []
    for error in check.iter_errors(document):
        path = tuple(str(p) for p in error.absolute_path)
        if len(path) == 3 and path[0] == "resources" and path[2] == "type":
            types.add(path)
        else:
            other.append(f"{'/'.join(path)}: {error.message}")
    return types, other


def test_every_corpus_score_example_fails_only_on_types_no_provider_claims(
    builtin: jsonschema.Draft202012Validator, corpus: jsonschema.Draft202012Validator
) -> None:
    examples = list(score_examples())
    assert len(examples) >= 20
    official = jsonschema.Draft202012Validator(official_schema())
    passing: dict[str, list[str]] = {"builtin": [], "corpus": []}
    providers = {
        "builtin": provider_set(ROOT / "providers"),
        "corpus": provider_set(CORPUS_PROVIDERS),
    }
    for name, check in (("builtin", builtin), ("corpus", corpus)):
        claimed = set(check.schema["$defs"]["resource"]["properties"]["type"]["enum"])
        for path, index, document in examples:
            types, other = verdicts(check, document)
            expected = verdicts(official, document)[1]
            extra = [e for e in other if e not in expected]
            refused = refused_by_binding(providers[name], document)
            for error in extra:  # only where the daemon's binding refuses the resource too
                assert error.split("/")[1].split(":")[0] in refused, f"{path}#{index}: {error}"
            unclaimed = {
                ("resources", r, "type")
                for r, spec in (document.get("resources") or {}).items()
                if spec.get("type") not in claimed
            }
            assert types == unclaimed, f"{path}#{index}"
            if not types and not other:
                passing[name].append(f"{path.relative_to(CORPUS)}#{index}")
    assert passing["builtin"]  # examples without resources, or with claimed types, pass
    assert passing["corpus"]


GOOD = {
    "apiVersion": "score.dev/v1b1",
    "metadata": {"name": "shop"},
    "containers": {"web": {"image": "nginx"}},
    "resources": {
        "db": {"type": "postgres", "params": {"database": "shop_orders", "connection_limit": 5}},
        "host": {"type": "dns"},
        "env": {"type": "environment"},
    },
}


def mistaken(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(GOOD)
    change(document["resources"])
    return document


BUILTIN_MISTAKES = {
    "unknown type": lambda r: r["db"].update(type="postgress"),
    "fractional connection limit": lambda r: r["db"]["params"].update(connection_limit=2.5),
    "connection limit as a word": lambda r: r["db"]["params"].update(connection_limit="many"),
    "extensions as a map": lambda r: r["db"]["params"].update(extensions={"a": 1}),
    "platform parameter given": lambda r: r["db"]["params"].update(admin_dsn_env="MINE"),
    "installation value given": lambda r: r["env"].update(params={"values": {"A": "b"}}),
}


def test_the_builtin_schema_accepts_a_good_file(builtin: jsonschema.Draft202012Validator) -> None:
    assert list(builtin.iter_errors(GOOD)) == []


@pytest.mark.parametrize("mistake", sorted(BUILTIN_MISTAKES))
def test_the_builtin_schema_catches_typical_mistakes(
    builtin: jsonschema.Draft202012Validator, mistake: str
) -> None:
    assert list(builtin.iter_errors(mistaken(BUILTIN_MISTAKES[mistake])))


def corpus_parameters(check: jsonschema.Draft202012Validator) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in check.schema["$defs"].items() if k.startswith("params-")}


def test_the_corpus_schema_catches_a_missing_required_param_and_bad_values(
    corpus: jsonschema.Draft202012Validator,
) -> None:
    caught = {"required": 0, "enum": 0, "type": 0}
    for name, params in corpus_parameters(corpus).items():
        type_ = name.removeprefix("params-")
        properties = params.get("properties", {})
        required = params.get("required", [])
        good = {key: "${resources.other.value}" for key in required}
        document = copy.deepcopy(GOOD)
        document["resources"] = {"it": {"type": type_, "params": good}, "other": {"type": type_}}
        if required:
            assert not [e for e in corpus.iter_errors(document) if "it" in e.absolute_path]
            broken = copy.deepcopy(document)
            del broken["resources"]["it"]["params"][required[0]]
            assert list(corpus.iter_errors(broken)), name
            caught["required"] += 1
        for key, schema in properties.items():
            if not isinstance(schema, dict):
                continue
            typed = schema["anyOf"][0]
            bad: Any = None
            if "enum" in typed:
                bad, kind = "not-one-of-them", "enum"
            elif typed["type"] == "boolean":
                bad, kind = [True], "type"
            if bad is None:
                continue
            broken = copy.deepcopy(document)
            broken["resources"]["it"]["params"][key] = bad
            assert list(corpus.iter_errors(broken)), f"{name}.{key}"
            caught[kind] += 1
    assert caught["required"]
    assert caught["type"]

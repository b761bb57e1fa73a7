"""The status document: what Git, the API and the CLI all show for an app."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.plan.model import RecordedResource
from reconciler.status.document import app_status, is_secret_key, summary, without_timestamp
from reconciler.store.records import AppRecord, RepositoryRecord
from reconciler.types import AppName, ResourceUid

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
APP = AppRecord(
    name="shop",
    repository="apps",
    path="apps/shop/score.yaml",
    commit="c" * 40,
    desired={},
    error=None,
    phase="Ready",
    reason="AllResourcesActive",
    message="all resources active",
    updated_at=T0,
)


def _resource(**overrides: object) -> RecordedResource:
    values: dict[str, object] = {
        "uid": ResourceUid("postgres.default#shop.db"),
        "app": AppName("shop"),
        "name": "db",
        "type": "postgres",
        "class_": "default",
        "state": "active",
        "outputs": {"host": "h", "password": "p4ss", "api_token": "t", "dsn": "x"},
        "secret_keys": frozenset({"dsn"}),
        "updated_at": T0,
    }
    values.update(overrides)
    return RecordedResource(**values)  # type: ignore[arg-type]


def test_secret_outputs_are_masked_by_marking_and_by_name() -> None:
    document = app_status(APP, [_resource()])
    assert document["resources"]["db"]["outputs"] == {
        "api_token": "***",
        "dsn": "***",
        "host": "h",
        "password": "***",
    }


def test_terminated_resources_are_not_listed() -> None:
    document = app_status(APP, [_resource(state="terminated")])
    assert document["resources"] == {}


def test_the_document_follows_the_contract() -> None:
    document = app_status(APP, [_resource()])
    assert list(document) == [
        "app",
        "phase",
        "commit",
        "path",
        "repository",
        "updated_at",
        "conditions",
        "resources",
    ]
    assert document["conditions"] == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "AllResourcesActive",
            "message": "all resources active",
        }
    ]
    assert document["updated_at"] == "2026-11-22T10:00:00Z"


def test_only_the_timestamp_is_ignored_when_deciding_to_commit() -> None:
    document = app_status(APP, [_resource()])
    later = {**document, "updated_at": "2027-01-01T00:00:00Z"}
    assert without_timestamp(later) == without_timestamp(document)


def test_secret_key_names() -> None:
    for key in (
        "password",
        "DB_PASSWORD",
        "client_secret",
        "token",
        "private_key",
        "credentials",
        "connection_string",
    ):
        assert is_secret_key(key)
    for key in ("host", "port", "username"):
        assert not is_secret_key(key)


def _source(**overrides: object) -> RepositoryRecord:
    values: dict[str, object] = {
        "name": "apps",
        "url": "https://git.example.com/apps.git",
        "branch": "main",
        "seen_commit": "c" * 40,
        "reconciled_commit": "c" * 40,
        "last_error": None,
        "failures": 0,
        "last_seen_at": T0,
        "next_poll_at": None,
        "hold_reason": None,
        "confirmed_commit": None,
        "good_commit": "c" * 40,
    }
    values.update(overrides)
    return RepositoryRecord(**values)  # type: ignore[arg-type]


def test_an_unreachable_repository_adds_source_available_false_keeping_the_rest() -> None:
    down = _source(
        last_error="repository 'apps' (https://git.example.com/apps.git): git fetch failed",
        failures=3,
        error_since=datetime(2026, 11, 22, 11, 0, tzinfo=UTC),
    )
    healthy = app_status(APP, [_resource()], source=_source())

    document = app_status(APP, [_resource()], source=down)

    assert document["conditions"] == [
        *healthy["conditions"],
        {
            "type": "SourceAvailable",
            "status": "False",
            "reason": "FetchFailed",
            "message": "repository 'apps' (https://git.example.com/apps.git): git fetch failed",
            "since": "2026-11-22T11:00:00Z",
            "last_good_commit": "c" * 40,
        },
    ]
    assert {k: v for k, v in document.items() if k != "conditions"} == {
        k: v for k, v in healthy.items() if k != "conditions"
    }
    assert summary(document) == (
        "all resources active; SourceAvailable=False since 2026-11-22T11:00:00Z: "
        "repository 'apps' (https://git.example.com/apps.git): git fetch failed"
    )


def test_a_reachable_repository_adds_no_condition() -> None:
    assert app_status(APP, [], source=_source()) == app_status(APP, [])
    other = _source(name="elsewhere", error_since=T0, last_error="down")
    assert app_status(APP, [], source=other) == app_status(APP, [])  # not the app's repository


def test_a_secret_copied_into_an_ordinary_output_or_error_is_masked_by_value() -> None:
    db = _resource(outputs={"host": "h", "password": "pa55-canary"}, secret_keys=frozenset())
    route = _resource(
        uid=ResourceUid("route.default#shop.route"),
        name="route",
        state="failed",
        last_error="could not reach http://leak-pa55-canary/",
        outputs={"url": "http://leak-pa55-canary/", "nested": {"list": ["x-pa55-canary"]}},
    )
    document = app_status(APP, [db, route])
    text = repr(document)
    assert "pa55-canary" not in text
    assert document["resources"]["route"]["outputs"]["url"] == "http://leak-***/"

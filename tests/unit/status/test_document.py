"""The status document: what Git, the API and the CLI all show for an app."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.plan.model import RecordedResource
from reconciler.status.document import app_status, is_secret_key, without_timestamp
from reconciler.store.records import AppRecord
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

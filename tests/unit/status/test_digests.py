"""What the status write-back knows each file to show (``KnownFiles``): kept between processes,
never trusted beyond what it recorded, and ignored whole when written by another format."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from reconciler import __version__
from reconciler.status.digests import FORMAT, KnownFiles, app_fingerprint, document_digest
from reconciler.store import RepositoryRecord
from reconciler.store.records import AppHeader

DOCUMENT = {"app": "shop", "phase": "Ready", "updated_at": "2026-12-03T10:00:00Z"}
BLOB = "a" * 40
PRINT = "f" * 64
AT = datetime(2026, 12, 3, 10, tzinfo=UTC)


def test_the_digest_ignores_updated_at_only() -> None:
    later = {**DOCUMENT, "updated_at": "2026-12-03T11:00:00Z"}
    failed = {**DOCUMENT, "phase": "Failed"}
    reordered = {"phase": "Ready", "app": "shop", "updated_at": DOCUMENT["updated_at"]}

    assert document_digest(later) == document_digest(DOCUMENT)
    assert document_digest(failed) != document_digest(DOCUMENT)
    assert document_digest(reordered) != document_digest(DOCUMENT)  # the YAML keeps key order
    assert document_digest({"app": object()}) is None  # not JSON: compared the slow way


def test_what_was_learnt_and_saved_is_known_to_the_next_process(tmp_path: Path) -> None:
    file = tmp_path / "mirror" / "innominatus" / "known.json"
    digest = document_digest(DOCUMENT)
    known = KnownFiles(file)
    known.learn("apps/shop.yaml", BLOB, digest)
    known.learn("apps/gone.yaml", "b" * 40, digest)
    known.forget("apps/gone.yaml")
    known.save()

    restarted = KnownFiles(file)

    assert restarted.current("apps/shop.yaml", BLOB, digest)
    assert not restarted.current("apps/shop.yaml", "c" * 40, digest)  # another blob
    assert not restarted.current("apps/shop.yaml", BLOB, "d" * 64)  # another document
    assert not restarted.current("apps/shop.yaml", None, digest)  # no file
    assert not restarted.current("apps/gone.yaml", "b" * 40, digest)


def test_a_memory_of_another_format_code_or_yaml_version_is_ignored(tmp_path: Path) -> None:
    file = tmp_path / "known.json"
    digest = document_digest(DOCUMENT)
    assert digest is not None
    entry = {"files": {"apps/shop.yaml": [BLOB, digest, PRINT]}}
    assert f"innominatus/{__version__} " in FORMAT
    for other in ("status-digests/1 yaml/6.0", FORMAT.replace(__version__, "0.0.1")):
        file.write_text(json.dumps({"format": other, **entry}))
        assert not KnownFiles(file).current("apps/shop.yaml", BLOB, digest)
        assert not KnownFiles(file).fresh("apps/shop.yaml", BLOB, PRINT)
    file.write_text(json.dumps({"format": FORMAT, **entry}))
    assert KnownFiles(file).current("apps/shop.yaml", BLOB, digest)
    assert KnownFiles(file).fresh("apps/shop.yaml", BLOB, PRINT)


def test_a_file_is_fresh_only_with_the_blob_and_the_fingerprint_remembered(
    tmp_path: Path,
) -> None:
    file = tmp_path / "known.json"
    known = KnownFiles(file)
    known.learn("apps/shop.yaml", BLOB, document_digest(DOCUMENT), PRINT)
    known.learn("apps/cart.yaml", BLOB, document_digest(DOCUMENT))  # no fingerprint known
    known.save()

    restarted = KnownFiles(file)

    assert restarted.fresh("apps/shop.yaml", BLOB, PRINT)
    assert not restarted.fresh("apps/shop.yaml", "c" * 40, PRINT)  # another blob
    assert not restarted.fresh("apps/shop.yaml", BLOB, "e" * 64)  # other rows
    assert not restarted.fresh("apps/shop.yaml", None, PRINT)  # no file
    assert not restarted.fresh("apps/shop.yaml", BLOB, None)  # rows not fingerprinted
    assert not restarted.fresh("apps/cart.yaml", BLOB, None)
    assert restarted.current("apps/cart.yaml", BLOB, document_digest(DOCUMENT))


def test_an_apps_fingerprint_changes_with_everything_its_document_is_built_from() -> None:
    app = AppHeader(
        name="shop", repository="apps", path="shop/score.yaml", commit="a" * 40, error=None,
        phase="Ready", reason="AllResourcesActive", message="ok", updated_at=AT,
    )  # fmt: skip
    source = RepositoryRecord(
        name="apps", url="apps.git", branch="main", seen_commit=None, reconciled_commit=None,
        last_error="unreachable", failures=1, last_seen_at=None, next_poll_at=None,
        hold_reason=None, confirmed_commit=None, error_since=AT, good_commit="b" * 40,
    )  # fmt: skip
    base = app_fingerprint(app, "rows", source=None)
    others = [
        app_fingerprint(app, "other rows", source=None),
        *(
            app_fingerprint(replace(app, **{field: value}), "rows", source=None)
            for field, value in (
                ("phase", "Failed"),
                ("reason", "ResourceFailed"),
                ("message", "db failed"),
                ("commit", "c" * 40),
                ("path", "moved/score.yaml"),
                ("repository", "other"),
            )
        ),
        app_fingerprint(app, "rows", source=source),  # an outage begins
        app_fingerprint(app, "rows", source=replace(source, last_error="refused")),
        app_fingerprint(app, "rows", source=replace(source, good_commit="c" * 40)),
    ]

    assert base is not None
    assert len({base, *others}) == len(others) + 1
    # Neither the app's timestamp nor an outage of another repository is shown.
    assert (
        app_fingerprint(replace(app, updated_at=AT.replace(year=2030)), "rows", source=None) == base
    )
    assert app_fingerprint(app, "rows", source=replace(source, name="other")) == base
    assert app_fingerprint(app, "rows", source=replace(source, error_since=None)) == base


def test_a_memory_that_cannot_be_kept_costs_nothing_but_the_next_start(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder would be")
    known = KnownFiles(blocked / "known.json")
    known.learn("apps/shop.yaml", BLOB, document_digest(DOCUMENT))

    known.save()  # logged at debug level, never raised

    assert known.current("apps/shop.yaml", BLOB, document_digest(DOCUMENT))
    assert not (blocked / "known.json.tmp").exists()

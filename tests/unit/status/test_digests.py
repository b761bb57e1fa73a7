"""What the status write-back knows each file to show (``KnownFiles``): kept between processes,
never trusted beyond what it recorded, and ignored whole when written by another format."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.status.digests import FORMAT, KnownFiles, document_digest

DOCUMENT = {"app": "shop", "phase": "Ready", "updated_at": "2026-12-03T10:00:00Z"}
BLOB = "a" * 40


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


def test_a_memory_of_another_format_or_yaml_version_is_ignored(tmp_path: Path) -> None:
    file = tmp_path / "known.json"
    digest = document_digest(DOCUMENT)
    assert digest is not None
    entry = {"files": {"apps/shop.yaml": [BLOB, digest]}}
    file.write_text(json.dumps({"format": "status-digests/0 yaml/1.0", **entry}))

    assert not KnownFiles(file).current("apps/shop.yaml", BLOB, digest)
    file.write_text(json.dumps({"format": FORMAT, **entry}))
    assert KnownFiles(file).current("apps/shop.yaml", BLOB, digest)


def test_a_memory_that_cannot_be_kept_costs_nothing_but_the_next_start(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder would be")
    known = KnownFiles(blocked / "known.json")
    known.learn("apps/shop.yaml", BLOB, document_digest(DOCUMENT))

    known.save()  # logged at debug level, never raised

    assert known.current("apps/shop.yaml", BLOB, document_digest(DOCUMENT))
    assert not (blocked / "known.json.tmp").exists()

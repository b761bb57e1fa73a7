"""More store writes against the status write-back's fingerprints
(``reconciler/store/shown.py``, ``reconciler/status/digests.py``): writes the existing
``test_status_fingerprints`` does not make, each changing what one document shows while moving
as few of the fingerprint's measures as possible — a failure replaced by one as long without an
execution, a shared resource's row written by its owner (shown in a claimer's file), a secret
rotated on one resource that unmasks another resource's output. After each, a writer started
afresh (a restarted daemon) must rewrite exactly the files that show it, showing the change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.sources.git import GitMirror
from reconciler.store import Store, open_store
from tests.gitutil import commit_files, make_repo, push
from tests.integration.status.test_status_fingerprints import (
    APPS,
    DB,
    ZONE,
    _begin,
    _save,
    changed,
    resource,
    restart,
    settled,
    shown_file,
)
from tests.seeding import record_resource


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """As ``test_status_fingerprints`` makes it: four apps, shop and web sharing a zone."""
    made = open_store(database_url, secret_key=b"k" * 43 + b"=")
    made.upgrade()
    made.repositories.register(name="apps", url="apps.git", branch="main")
    for app in APPS:
        _save(made, app, shared=app in ("shop", "web"))
        record_resource(made, app=app, name="db", outputs={"host": f"{app}-1"})
        made.apps.set_phase(app, phase="Ready", reason="AllResourcesActive", message="ok")
    record_resource(made, app="shop", name="zone", uid=ZONE, shared=True)
    yield made
    made.close()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    work, bare = make_repo(tmp_path)
    commit_files(work, {"README.md": "apps\n"}, "init")
    push(work)
    return bare


@pytest.fixture
def mirror(tmp_path: Path, remote: Path) -> Iterator[GitMirror]:
    found = GitMirror(name="apps", url=str(remote), branch="main", data_dir=tmp_path / "data")
    found.fetch()
    yield found
    found.close()


SECRET = "s3cr3t-value-1"


def _unstarted(store: Store, error: str) -> None:
    store.resources.fail_unstarted(
        uid=DB.format("cart"), app="cart", name="db", type_="postgres", class_="default",
        operation="update", error=error, inputs_hash="h3", next_attempt_at=None,
    )  # fmt: skip


def _zone_outputs(store: Store) -> None:
    execution = _begin(store, "shop", "update", name="zone")
    store.resources.succeed(execution, outputs={"ns": "ns2"}, secret_keys=[], applied_params={})


def _rotate(store: Store) -> None:
    execution, _ = store.resources.begin(
        uid="postgres.default#blog.vault", app="blog", name="vault", type_="postgres",
        class_="default", operation="update", reason="rotate", provider="db-team",
        provider_version="1.0.0", workflow="wf", inputs_hash="h2", commit="c" * 40,
        depends_on=[],
    )  # fmt: skip
    store.resources.succeed(
        execution,
        outputs={"token": "s3cr3t-value-2"},
        secret_keys=["token"],
        applied_params={},
    )


WRITES: dict[str, tuple[Callable[[Store], object], Callable[[Store], None], str, Any]] = {
    # (before settling, the write, the app, what its file then shows)
    "a failure replaced by one as long, no execution": (
        lambda s: _unstarted(s, "no workflow: AAAA"),
        lambda s: _unstarted(s, "no workflow: BBBB"),
        "cart",
        lambda d: resource(d, "db")["error"] == "no workflow: BBBB",
    ),
    "a shared row updated by its owner, shown in a claimer's file": (
        lambda s: None,
        _zone_outputs,
        "web",
        lambda d: resource(d, "zone")["outputs"] == {"ns": "ns2"},
    ),
    "a secret rotated unmasks another resource's output": (
        lambda s: (
            record_resource(
                s, app="blog", name="vault", outputs={"token": SECRET}, secret_keys=["token"]
            ),
            record_resource(s, app="blog", name="web", outputs={"url": f"http://{SECRET}/"}),
        ),
        _rotate,
        "blog",
        lambda d: resource(d, "web")["outputs"] == {"url": f"http://{SECRET}/"},
    ),
}


@pytest.mark.parametrize("kind", list(WRITES))
def test_a_restarted_writer_rewrites_the_file_a_write_changed(
    store: Store, mirror: GitMirror, remote: Path, kind: str
) -> None:
    before, write, app, shows = WRITES[kind]
    if kind.startswith("a shared row"):
        _save_web_claim(store)
    before(store)
    settled(store, mirror)
    first = shown_file(remote, app)

    write(store)
    commit = restart(store, mirror).write()

    assert commit is not None, first
    both = ["apps/shop.yaml", "apps/web.yaml"]  # the zone shows in its owner's file too
    assert changed(remote, commit) == (both if app == "web" else [f"apps/{app}.yaml"])
    assert shows(shown_file(remote, app)), shown_file(remote, app)
    assert restart(store, mirror).write() is None


def _save_web_claim(store: Store) -> None:
    """web claims the zone shop owns (the fixture made both declare it)."""
    assert ZONE in {r.uid for r in store.resources.of_app("web")}

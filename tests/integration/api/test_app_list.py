"""``GET /api/v1/apps`` on a real store (SQLite and PostgreSQL): a paginated summary of every
app (name, repository, phase, live resources by state, updated_at), filtered by phase,
repository and a part of the name, with an ETag per page; bad parameters are 400s that say
what to send."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from reconciler.api import applist
from reconciler.api.app import create_app
from reconciler.api.applist import (
    REFRESH_LEAD,
    VERSION_EVERY,
    AppList,
    AppQuery,
    decode_cursor,
    encode_cursor,
)
from reconciler.status.views import StatusViews
from reconciler.store import AppDesired, Store, open_store
from tests.seeding import record_resource
from tests.waiting import wait_until

SHARED = "dns.default#shared-zone"


def _spec(app: str, *, shared: bool = False) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if shared:
        resources["zone"] = {"uid": SHARED, "id": "shared-zone"}
    return {"path": f"apps/{app}/score.yaml", "resources": resources, "order": []}


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    s.repositories.register(name="apps", url="https://git.example.com/apps.git", branch="main")
    s.repositories.register(name="infra", url="https://git.example.com/infra.git", branch="main")
    names = [f"app-{i:02d}" for i in range(25)]
    s.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[AppDesired(name=n, path=f"apps/{n}/score.yaml", desired=_spec(n)) for n in names],
    )
    s.apps.save_desired(
        repository="infra",
        commit="d" * 40,
        apps=[
            AppDesired(name="Shop", path="shop/score.yaml", desired=_spec("Shop", shared=True)),
            AppDesired(name="web", path="web/score.yaml", desired=_spec("web", shared=True)),
        ],
    )
    for name in names:
        s.apps.set_phase(name, phase="Ready", reason="AllResourcesActive", message="")
    s.apps.set_phase("app-03", phase="Failed", reason="StepFailed", message="db: boom")
    record_resource(s, app="Shop", name="db")
    record_resource(s, app="Shop", name="cache", fail=True)
    record_resource(s, app="Shop", name="zone", uid=SHARED, shared=True)
    yield s
    s.close()


@pytest.fixture
def client(store: Store) -> TestClient:
    return TestClient(create_app(views=StatusViews(store), readiness=lambda: None))


def _names(page: dict[str, Any]) -> list[str]:
    return [app["name"] for app in page["apps"]]


def test_following_next_cursor_lists_every_app_once(client: TestClient) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "?limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = client.get("/api/v1/apps" + query).json()
        assert page["total"] == 27
        seen += _names(page)
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 27  # in the database's name order, none twice


def test_a_summary_counts_live_resources_by_state_shared_ones_for_each_claimer(
    client: TestClient,
) -> None:
    page = client.get("/api/v1/apps?repository=infra").json()
    shop, web = page["apps"]
    assert (shop["name"], shop["repository"]) == ("Shop", "infra")
    assert shop["resources"] == {"active": 2, "failed": 1}
    assert web["resources"] == {"active": 1}  # the shared zone it claims
    assert set(shop) == {"name", "repository", "phase", "suspended", "resources", "updated_at"}
    assert shop["updated_at"].endswith("Z")


def test_filters_by_phase_repository_and_part_of_the_name(client: TestClient) -> None:
    assert _names(client.get("/api/v1/apps?phase=Failed").json()) == ["app-03"]
    assert client.get("/api/v1/apps?repository=apps").json()["total"] == 25
    assert _names(client.get("/api/v1/apps?q=SHO").json()) == ["Shop"]
    assert _names(client.get("/api/v1/apps?q=app-1&limit=3").json()) == [
        "app-10",
        "app-11",
        "app-12",
    ]
    assert client.get("/api/v1/apps?q=%25").json()["total"] == 0  # a literal %, not a wildcard
    assert client.get("/api/v1/apps?q=_").json()["total"] == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit must be a whole number from 1 to 1000"),
        ("limit=1001", "limit must be a whole number from 1 to 1000"),
        ("limit=ten", "limit must be a whole number from 1 to 1000"),
        ("cursor=%ff%fe", "cursor is not one this API gave out"),
        ("phse=Failed", "unknown query parameter 'phse'"),
    ],
)
def test_a_bad_parameter_is_a_400_that_says_what_to_send(
    client: TestClient, query: str, message: str
) -> None:
    response = client.get("/api/v1/apps?" + query)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_each_page_has_its_own_etag_until_the_state_moves(client: TestClient, store: Store) -> None:
    first = client.get("/api/v1/apps?limit=5")
    second = client.get("/api/v1/apps?limit=5&cursor=" + first.json()["next_cursor"])
    assert first.headers["etag"] != second.headers["etag"]
    again = client.get("/api/v1/apps?limit=5", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304

    store.apps.set_phase("app-01", phase="Progressing", reason="Working", message="")
    # The store's version is read at most every 50 ms: the move shows within that.
    wait_until(
        lambda: client.get("/api/v1/apps?limit=5").headers["etag"] != first.headers["etag"],
        what="the page to show the move",
    )
    moved = client.get("/api/v1/apps?limit=5", headers={"If-None-Match": first.headers["etag"]})
    assert moved.status_code == 200
    phases = {app["name"]: app["phase"] for app in moved.json()["apps"]}
    assert phases["app-01"] == "Progressing"


@given(st.text(min_size=1, max_size=80))
def test_a_cursor_gives_back_the_name_it_was_made_from(name: str) -> None:
    assert decode_cursor(encode_cursor(name)) == name


def test_a_kept_page_is_served_without_a_read_until_the_version_is_due(store: Store) -> None:
    now = [0.0]
    pages = AppList(StatusViews(store), clock=lambda: now[0])
    query = AppQuery(limit=5)
    assert pages.fresh(query) is None  # nothing read yet

    etag, body = pages.get(query)

    assert pages.fresh(query) == (etag, body)
    assert pages.fresh(AppQuery(limit=6)) is None  # another page is not kept
    now[0] = VERSION_EVERY
    assert pages.fresh(query) is None  # the version is due: get() reads it


class _CountingViews(StatusViews):
    """Counts the reads of the store's version; fails them while ``failing``."""

    reads = 0
    failing = False

    def version(self) -> str:
        self.reads += 1
        if self.failing:
            raise ConnectionError("the database is gone")
        return super().version()


def test_while_requests_flow_the_version_is_read_ahead_of_time_once(store: Store) -> None:
    now = [0.0]
    views = _CountingViews(store)
    pages = AppList(views, clock=lambda: now[0])
    query = AppQuery(limit=5)
    assert not pages.refresh_due()  # nothing read yet: get() reads it
    kept = pages.get(query)
    assert views.reads == 1
    assert not pages.refresh_due()  # just read

    now[0] = VERSION_EVERY - REFRESH_LEAD  # due within a read's time, but still fresh
    assert pages.fresh(query) == kept
    assert pages.refresh_due()
    assert not pages.refresh_due()  # one read ahead at a time
    pages.refresh()
    assert views.reads == 2

    now[0] = VERSION_EVERY + REFRESH_LEAD / 2  # past the first read's due time
    assert pages.fresh(query) == kept  # served from memory: the version read ahead is fresh
    assert views.reads == 2


def test_a_read_ahead_of_time_that_fails_leaves_the_read_to_the_next_request(
    store: Store,
) -> None:
    now = [0.0]
    views = _CountingViews(store)
    pages = AppList(views, clock=lambda: now[0])
    query = AppQuery(limit=5)
    kept = pages.get(query)
    now[0] = VERSION_EVERY - REFRESH_LEAD
    assert pages.refresh_due()
    views.failing = True
    with pytest.raises(ConnectionError):
        pages.refresh()
    assert pages.fresh(query) == kept  # still fresh until it is due
    assert pages.refresh_due()  # and read ahead again
    now[0] = VERSION_EVERY
    assert pages.fresh(query) is None  # due: the next request reads it, and reports
    with pytest.raises(ConnectionError):
        pages.get(query)


@pytest.fixture
def kept_long(monkeypatch: pytest.MonkeyPatch) -> None:
    """A version read stays fresh for the whole test: every page asked twice is kept."""
    monkeypatch.setattr(applist, "VERSION_EVERY", 3600.0)


def _without_date(response: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k != "date"}
    return response.status_code, headers, response.content


@pytest.mark.usefixtures("kept_long")
def test_a_page_served_from_memory_is_the_one_the_route_serves(store: Store) -> None:
    client = TestClient(create_app(views=StatusViews(store), readiness=lambda: None))
    built = client.get("/api/v1/apps?limit=5&q=app")  # by the route: nothing kept yet
    kept = client.get("/api/v1/apps?limit=5&q=app")  # from memory, before routing

    assert _without_date(kept) == _without_date(built)
    assert kept.headers["content-type"] == "application/json"
    assert kept.headers["x-frame-options"] == "DENY"
    etag = {"If-None-Match": built.headers["etag"]}
    not_modified = client.get("/api/v1/apps?limit=5&q=app", headers=etag)
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == built.headers["etag"]
    head = client.head("/api/v1/apps?limit=5&q=app")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == built.headers["content-length"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("kept_long")
def test_a_page_kept_in_memory_still_needs_the_token_an_allowed_host_and_good_parameters(
    store: Store,
) -> None:
    client = TestClient(
        create_app(
            views=StatusViews(store),
            readiness=lambda: None,
            tokens=["t0ken"],
            allowed_hosts=["localhost"],
        ),
        base_url="http://localhost",
    )
    auth = {"Authorization": "Bearer t0ken"}
    assert client.get("/api/v1/apps", headers=auth).status_code == 200
    assert client.get("/api/v1/apps", headers=auth).status_code == 200  # kept now

    assert client.get("/api/v1/apps").status_code == 401
    wrong_host = client.get("/api/v1/apps", headers={**auth, "Host": "attacker.example"})
    assert wrong_host.status_code == 400
    assert client.get("/api/v1/apps?limit=0", headers=auth).status_code == 400
    assert client.get("/api/v1/apps?q=%00", headers=auth).status_code == 400
    assert client.post("/api/v1/apps", headers=auth).status_code == 405

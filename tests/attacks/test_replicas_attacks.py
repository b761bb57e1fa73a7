"""Attacks on replicas (``engine.replicas``): several `innominatus run` processes on one
PostgreSQL database. The invariants under attack: one execution of a resource at a time, no
action run twice, none lost (every resource settles), a dead replica's work recovered and a
live one's never, only the leader leading.

Races between the leader's ledger (``reconciler/engine/ledger.py``), the claim loops
(``reconciler/engine/claims.py``) and the lease rows are driven through the store classes, two
``Store`` objects standing for two replicas; what concerns a daemon runs real ``innominatus
run`` subprocesses (``tests/e2e/ledger.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from reconciler.assembly.leading import recover_single
from reconciler.engine.claims import ClaimLoop
from reconciler.engine.ledger import Ledger
from reconciler.engine.processes import processes_dir
from reconciler.errors import ConfigError, FencedError, LockedError, StoreError
from reconciler.executors.host import boot_id, host_name
from reconciler.settings import load_settings
from reconciler.store import Offer, ReadyAction, Store, open_store
from tests.e2e.ledger import FaultStory, kill9, make_fault_story, score, settled, wait_for
from tests.e2e.ledger import Ledger as StepLedger
from tests.waiting import within

pytestmark = pytest.mark.timeout(30)

UID = "db.default#shop.db"
TTL = 30.0


# --- rigs -------------------------------------------------------------------------------------


@pytest.fixture
def stores(postgres_url: str) -> Iterator[list[Store]]:
    """Stores opened on one database; each stands for one replica (closed at the end)."""
    opened: list[Store] = []
    yield opened
    for store in opened:
        store.close()


def replica(stores: list[Store], url: str, name: str, *, lead: bool = False) -> Store:
    store = open_store(url)
    store.upgrade()
    stores.append(store)
    store.join(name=name, holder=f"holder-{name}", ttl=TTL)
    if lead:
        store.lead(holder=f"holder-{name}", ttl=TTL)
    return store


def expire(store: Store, lease: str) -> None:
    """Lease ``lease`` expired on the database's clock (its holder stopped renewing)."""
    with store._db.engine.begin() as conn:
        conn.execute(
            text("UPDATE leases SET expires_at = now() - interval '1 second' WHERE name = :n"),
            {"n": lease},
        )


def action(uid: str = UID, app: str = "shop", operation: str = "create") -> Any:
    """What ``Ledger.offer`` reads of a planned action."""
    return SimpleNamespace(uid=uid, app=app, operation=operation, shared=False)


class Seen:
    def __init__(self) -> None:
        self.ended: list[ReadyAction] = []
        self.replanned: list[str] = []

    async def end(self, action: ReadyAction) -> None:
        self.ended.append(action)


def ledger(store: Store, seen: Seen, tmp_path: Path) -> Ledger:
    return Ledger(
        store=store,
        data_dir=tmp_path / "data",
        ended=seen.end,
        recovered=seen.replanned.append,
        offered=lambda: None,
    )


def begin(store: Store, uid: str = UID) -> int:
    execution_id, _ = store.resources.begin(
        uid=uid,
        app="shop",
        name="db",
        type_="db",
        class_="default",
        operation="create",
        reason="new resource",
        provider="p",
        provider_version="1.0.0",
        workflow="wf",
        inputs_hash="h1",
        commit="c1",
        depends_on=[],
    )
    return execution_id


def state_of(store: Store, execution_id: int) -> str:
    return next(e.state for e in store.executions.all(limit=100) if e.id == execution_id)


# --- the leader lease: a replica that lost the lead ---------------------------------------------


def test_a_replica_that_lost_the_lead_cannot_take_the_results_the_new_leader_waits_for(
    stores: list[Store], postgres_url: str, tmp_path: Path
) -> None:
    """The deposed leader's ledger runs until its keeper notices (a third of the lease, plus
    the fence's wait and the drain): a result it read and forgot was acted on by nobody, and
    the new leader held the resource as offered forever: it never settled."""
    first = replica(stores, postgres_url, "first", lead=True)
    second = replica(stores, postgres_url, "second")
    old, new = Seen(), Seen()

    async def story() -> None:
        deposed = ledger(first, old, tmp_path)
        deposed.offer(action())
        await deposed.flush()
        expire(first, "daemon")
        second.lead(holder="holder-second", ttl=TTL)
        leading = ledger(second, new, tmp_path)
        await leading.resume()
        assert UID in leading.offered
        [claimed] = second.ready.claim("second", limit=4)
        second.ready.finish(claimed.id, replica="second", result="succeeded")
        with pytest.raises(FencedError, match="no longer leads"):
            await deposed.collect()
        await leading.collect()
        assert [a.uid for a in new.ended] == [UID]
        assert leading.offered == {}

    asyncio.run(story())
    assert old.ended == []


def test_a_replica_that_lost_the_lead_offers_nothing_and_fences_nobody(
    stores: list[Store], postgres_url: str, tmp_path: Path
) -> None:
    """Offers, lease deletions and hand-backs were unfenced: a deposed leader wrote offers
    from a stale plan beside the new leader's, and reaped and recovered on its own. Now its
    ledger is refused and ends; its lease keeper ends the run."""
    first = replica(stores, postgres_url, "first", lead=True)
    second = replica(stores, postgres_url, "second")
    third = replica(stores, postgres_url, "third")
    expire(first, "daemon")
    second.lead(holder="holder-second", ttl=TTL)
    deposed = ledger(first, Seen(), tmp_path)
    deposed.offer(action())
    expire(first, "replica:third")

    async def run() -> None:
        with pytest.raises(FencedError):
            await deposed.flush()
        with pytest.raises(FencedError):
            await deposed.reap()  # the new leader's to do
        stop = asyncio.Event()
        await asyncio.wait_for(deposed.run(stop, reap_every=0.0), timeout=5)  # ends by itself

    asyncio.run(run())
    assert second.ready.pending() == []
    assert third.replicas.expired() == ["third"]  # not deleted: the new leader reaps it


def test_an_action_in_hand_whose_row_vanished_is_planned_again(
    stores: list[Store], postgres_url: str, tmp_path: Path
) -> None:
    """The delete of a collected result committed but its answer was lost (or a deposed leader
    deleted it): the uid stayed "offered" in memory, so the planner never offered it again."""
    first = replica(stores, postgres_url, "first", lead=True)
    seen = Seen()

    async def story() -> None:
        leading = ledger(first, seen, tmp_path)
        leading.offer(action())
        await leading.flush()
        leading.offer(action(uid="db.default#blog.db", app="blog"))  # in the outbox: kept
        first.ready.forget([a.id for a in first.ready.pending()])
        await leading.reap()
        assert leading.offered == {"db.default#blog.db": "blog"}

    asyncio.run(story())
    assert seen.replanned == ["shop"]


# --- claims: dropped connections on one replica ------------------------------------------------


def run_claims(
    store: Store, name: str, results: list[str], *, until: Any, seconds: float = 10.0
) -> None:
    """One replica's claim loop until ``until()`` (at most ``seconds``); every claimed action
    'succeeds'."""

    async def execute(claimed: ReadyAction) -> str:
        results.append(claimed.uid)
        return "succeeded"

    async def go() -> None:
        stop = asyncio.Event()
        loop = ClaimLoop(
            store=store, replica=name, workers=2, execute=execute, fenced=stop.set, interval=0.05
        )
        task = asyncio.create_task(loop.run(stop))
        for _ in range(int(seconds / 0.05)):
            if await asyncio.to_thread(until):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(go())


def test_a_result_the_database_did_not_take_is_written_again_not_lost(
    stores: list[Store], postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The result was written once, errors suppressed: a dropped connection left the action
    claimed by a live replica forever (never reaped), its resource held "offered" by the
    leader: never planned again."""
    first = replica(stores, postgres_url, "first", lead=True)
    first.ready.offer([Offer(uid=UID, app="shop", operation="create", shared=False)])
    real = first.ready.finish
    drops = [StoreError("database unavailable: server closed the connection unexpectedly")] * 2

    def finish(action_id: int, *, replica: str, result: str) -> None:
        if drops:
            raise drops.pop()
        real(action_id, replica=replica, result=result)

    monkeypatch.setattr(first.ready, "finish", finish)
    ran: list[str] = []
    run_claims(first, "first", ran, until=first.ready.finished)
    assert ran == [UID]
    assert [(a.uid, a.result) for a in first.ready.finished()] == [(UID, "succeeded")]


def test_a_claim_whose_answer_was_lost_is_run_not_left_claimed(
    stores: list[Store], postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim committed, then the connection dropped before its answer: the rows stayed
    claimed by a live replica that did not know it held them; nobody ran them, ever."""
    first = replica(stores, postgres_url, "first", lead=True)
    first.ready.offer([Offer(uid=UID, app="shop", operation="create", shared=False)])
    real = first.ready.claim
    lost = [True]

    def claim(name: str, *, limit: int, providers: str | None = None) -> list[ReadyAction]:
        found = real(name, limit=limit, providers=providers)
        if lost and found:
            lost.clear()
            raise StoreError("database unavailable: server closed the connection unexpectedly")
        return found

    monkeypatch.setattr(first.ready, "claim", claim)
    ran: list[str] = []
    run_claims(first, "first", ran, until=first.ready.finished)
    assert ran == [UID]
    assert [(a.uid, a.result) for a in first.ready.finished()] == [(UID, "succeeded")]


def test_a_replica_whose_lease_is_not_known_to_last_claims_nothing(
    stores: list[Store], postgres_url: str
) -> None:
    """A replica cut from the database for two thirds of its lease has ended its steps (its
    keeper did); when the database answers again during the fence and the drain, its claim loop
    claimed new actions and started them after the steps were ended, to run past the lease's
    expiry beside the retry another replica makes of them."""
    first = replica(stores, postgres_url, "first", lead=True)
    cut = replica(stores, postgres_url, "cut")
    first.ready.offer([Offer(uid=UID, app="shop", operation="create", shared=False)])
    assert cut.replica is not None
    cut.replica.renewed_at -= 2 * TTL / 3  # its keeper's last renewal: two thirds ago
    ran: list[str] = []
    run_claims(cut, "cut", ran, until=lambda: bool(ran), seconds=1.5)
    assert ran == []
    assert [a.claimed_by for a in first.ready.pending()] == [None]


# --- a daemon without replicas on the replicas' database ---------------------------------------


def test_a_daemon_without_replicas_never_recovers_a_live_replicas_executions(
    stores: list[Store], postgres_url: str, tmp_path: Path
) -> None:
    """The leader lease is free for a moment while a killed leader is replaced: a daemon
    started without engine.replicas took it, and its start recorded every running execution
    interrupted — a live replica's too — and ran them again beside it."""
    running = replica(stores, postgres_url, "running")
    execution = begin(running)
    single = open_store(postgres_url)
    stores.append(single)
    single.lock(holder="single", ttl=TTL)
    with pytest.raises(LockedError, match=r"engine\.replicas") as refused:
        asyncio.run(recover_single(single, data_dir=tmp_path / "data"))
    assert "running" in str(refused.value)
    assert state_of(running, execution) == "running"


def test_a_daemon_without_replicas_fences_an_expired_replica_before_recovering_its_work(
    stores: list[Store], postgres_url: str, tmp_path: Path
) -> None:
    """An expired replica lease was left in place: the replica, alive after all (paused),
    could still write its execution's outcome over the recovery and the retry."""
    paused = replica(stores, postgres_url, "paused")
    execution = begin(paused)
    expire(paused, "replica:paused")
    single = open_store(postgres_url)
    stores.append(single)
    single.lock(holder="single", ttl=TTL)
    assert asyncio.run(recover_single(single, data_dir=tmp_path / "data")) == ["shop"]
    assert state_of(single, execution) == "interrupted"
    with pytest.raises(FencedError):
        paused.resources.succeed(execution, outputs={}, secret_keys=[], applied_params={})


def test_replicas_on_sqlite_set_through_the_environment_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "innominatus.yaml"
    config.write_text("database: postgresql+psycopg://postgres@127.0.0.1:5432/x\n")
    environ = {"INNOMINATUS_ENGINE__REPLICAS": "true", "INNOMINATUS_DATABASE": "sqlite:///s.db"}
    with pytest.raises(ConfigError, match=r"engine\.replicas.*PostgreSQL"):
        load_settings(config, environ=environ)


# --- daemons ------------------------------------------------------------------------------------


def _story(tmp_path: Path, postgres_url: str) -> FaultStory:
    # Steps of 1.5 s, the drain's grace 1 s: a step just claimed does not end as it is cut.
    return make_fault_story(
        tmp_path, postgres_url, step_seconds=1.5, lease_ttl="6s", workers=2, replicas=True
    )


def _steps(story: FaultStory) -> StepLedger:
    """``story.ledger``, read past a line a step wrote as it was stopped: the SIGTERM to its
    group can kill the ``date`` of its ``end`` line (its ``stop`` line says when it stopped);
    a run with neither still counts as never stopped."""
    lines = [line for line in story.ledger.path.read_text().splitlines() if len(line.split()) == 6]
    whole = story.root / "ledger-whole-lines.txt"
    whole.write_text("".join(f"{line}\n" for line in lines))
    return StepLedger(whole)


def _stop_all(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            kill9(process)


def test_a_replica_stopped_with_sigterm_mid_step_loses_no_claimed_action(
    tmp_path: Path, postgres_url: str
) -> None:
    story = _story(tmp_path, postgres_url)
    _commit_enough_for_two(story)
    processes: list[subprocess.Popen[str]] = []
    try:
        with story.store() as store:
            processes, _name = _two_replicas(story, store)
            processes[1].send_signal(signal.SIGTERM)
            assert processes[1].wait(timeout=15) == 0
            wait_for(lambda: _two_settled(store), timeout=20, what="settled, every result read")
        assert _steps(story).overlaps() == []
        assert all(runs[-1].ended for runs in _steps(story).runs().values())
        processes[0].send_signal(signal.SIGTERM)
        assert processes[0].wait(timeout=15) == 0
    except BaseException:
        print(story.output())
        raise
    finally:
        _stop_all(processes)


def test_dropped_connections_of_every_replica_lose_no_action_and_overlap_nothing(
    tmp_path: Path, postgres_url: str
) -> None:
    """Every server connection of the database is cut while steps run and results are
    written, three times: each replica's pool reconnects, and everything settles once."""
    story = _story(tmp_path, postgres_url)
    story.commit({f"apps/app{i}/score.yaml": score(f"app{i}", 2) for i in range(3)}, "3 apps")
    processes = [story.start()]
    try:
        story.wait_running(processes[0])
        processes.append(story.start())
        story.wait_running(processes[1])
        database = postgres_url.rsplit("/", 1)[1]
        admin = postgres_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
        with story.store() as store:
            for _ in range(3):
                wait_for(lambda: _steps(story).starts() > 0, timeout=15, what="steps run")
                with psycopg.connect(admin + "/postgres", autocommit=True) as conn:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s AND pid <> pg_backend_pid()",
                        (database,),
                    )
                time.sleep(0.7)  # the aim: the next cut lands while results are written again
            wait_for(lambda: _settled(store), timeout=25, what="settled")
        assert _steps(story).overlaps() == []
        assert [p.poll() for p in processes] == [None, None]
    except BaseException:
        print(story.output())
        raise
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=20)
        _stop_all(processes)


def _settled(store: Store) -> bool:
    try:
        return settled(store, apps=3, resources=2) and store.ready.pending() == []
    except StoreError:
        return False


def test_a_daemon_without_replicas_stops_with_a_clear_message_while_replicas_run(
    tmp_path: Path, postgres_url: str
) -> None:
    story = _story(tmp_path, postgres_url)
    story.commit({"apps/app0/score.yaml": score("app0", 1)}, "1 app")
    processes = [story.start()]
    try:
        story.wait_running(processes[0])
        single = tmp_path / "single.yaml"
        single.write_text(story.config.read_text().replace("replicas: true", "replicas: false"))
        refused = subprocess.run(
            [sys.executable, "-m", "reconciler", "run", "--config", str(single)],
            capture_output=True,
            text=True,
            timeout=25,
            check=False,
            cwd=tmp_path,
        )
        assert refused.returncode != 0
        assert "engine.replicas" in refused.stderr
    except BaseException:
        print(story.output())
        raise
    finally:
        processes[0].send_signal(signal.SIGTERM)
        processes[0].wait(timeout=20)
        _stop_all(processes)


# --- recovering a dead replica leaves the live ones' step records ------------------------------


def test_recovering_a_dead_replica_keeps_the_step_records_of_live_replicas(
    stores: list[Store], postgres_url: str, tmp_path: Path
) -> None:
    """Replicas share ``data_dir`` (on one host, or a shared volume): the leader ending a dead
    replica's steps deleted the process records of every other running execution — the live
    replicas'. When one of those dies in turn, nothing says where its steps run: they are not
    ended, its executions are retried at once, and the retries overlap the steps still running."""
    leader = replica(stores, postgres_url, "leader", lead=True)
    live = replica(stores, postgres_url, "live")
    dead = replica(stores, postgres_url, "dead")
    mine = begin(live, "db.default#blog.db")
    lost = begin(dead)
    records = processes_dir(tmp_path / "data")
    records.mkdir(parents=True)
    for execution in (mine, lost):  # groups that do not exist: nothing to end
        (records / str(execution)).write_text(
            json.dumps({"pgid": 999_999_000 + execution, "boot_id": boot_id(), "host": host_name()})
        )
    expire(leader, "replica:dead")
    seen = Seen()
    asyncio.run(ledger(leader, seen, tmp_path).reap())
    assert seen.replanned == ["shop"]
    assert state_of(leader, lost) == "interrupted"
    assert state_of(leader, mine) == "running"
    assert (records / str(mine)).exists()
    assert not (records / str(lost)).exists()


TWO_APPS = 4
"""Apps of :func:`_commit_enough_for_two`."""


def _commit_enough_for_two(story: FaultStory) -> None:
    """Apps whose 8 slow actions keep the leader's 2 workers busy for 6 s alone, so that the
    follower, started after the leader, still finds actions to claim on a loaded machine
    (with 6 actions, under CI's load, the leader had started them all before it ran)."""
    apps = {f"apps/app{i}/score.yaml": score(f"app{i}", 2) for i in range(TWO_APPS)}
    story.commit(apps, f"{TWO_APPS} apps")


def _two_settled(store: Store) -> bool:
    return _settled_apps(store, TWO_APPS)


def _two_replicas(story: FaultStory, store: Store) -> tuple[list[subprocess.Popen[str]], str]:
    """A leader and a follower, the follower's name, once the follower holds claims."""
    leader = story.start()
    processes = [leader]
    story.wait_running(leader)
    wait_for(lambda: any(r.leader for r in store.replicas.live()), timeout=10, what="a leader")
    processes.append(story.start())
    story.wait_running(processes[1])
    name = next(r.name for r in store.replicas.live() if not r.leader)
    wait_for(
        lambda: any(a.claimed_by == name for a in store.ready.pending()),
        timeout=15,
        what="the follower claims",
    )
    return processes, name


def test_a_follower_killed_and_restarted_under_a_new_name_leaves_no_claim_stuck(
    tmp_path: Path, postgres_url: str
) -> None:
    story = _story(tmp_path, postgres_url)
    _commit_enough_for_two(story)
    with story.running() as processes:
        with story.store() as store:
            started, name = _two_replicas(story, store)
            processes.extend(started)
            kill9(processes[1])
            processes.append(story.start())  # a new name: the old claims are nobody's
            story.wait_running(processes[2])
            wait_for(lambda: _two_settled(store), timeout=25, what="settled, every result read")
            assert name not in {r.name for r in store.replicas.live()}
        assert _steps(story).overlaps() == []


def test_a_leader_stopped_with_sigterm_mid_step_hands_over_everything_in_hand(
    tmp_path: Path, postgres_url: str
) -> None:
    story = _story(tmp_path, postgres_url)
    _commit_enough_for_two(story)
    with story.running() as processes:
        with story.store() as store:
            started, _name = _two_replicas(story, store)
            processes.extend(started)
            processes[0].send_signal(signal.SIGTERM)  # the leader, with offers in every state
            assert processes[0].wait(timeout=15) == 0
            wait_for(lambda: _two_settled(store), timeout=25, what="settled, every result read")
            assert [r.leader for r in store.replicas.live()] == [True]
        assert _steps(story).overlaps() == []


# --- followers do no leader work ----------------------------------------------------------------


def test_a_follower_never_writes_the_platform_status(tmp_path: Path, postgres_url: str) -> None:
    from tests.e2e.test_platform_repository import platform_file, provider_files, status_document
    from tests.gitutil import commit_files, make_repo, push

    apps_work, apps_bare = make_repo(tmp_path, "apps")
    commit_files(apps_work, {"apps/none.txt": "no app yet\n"}, "empty")
    push(apps_work)
    work, bare = make_repo(tmp_path, "platform")
    commit_files(work, {**provider_files(), "platform.yaml": platform_file("eu-west-1")}, "p")
    push(work)
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"database: {postgres_url}\ndata_dir: {tmp_path / 'data'}\n"
        "api: {host: 127.0.0.1, port: 0}\n"
        "engine: {replicas: true, lease_ttl: 20s, shutdown_grace: 1s}\n"
        f"repositories:\n  - {{name: apps, url: {apps_bare}, interval: 1h}}\n"
        f"platform: {{repository: {bare}, interval: 1s}}\n"
    )
    story = FaultStory(
        tmp_path, work, postgres_url, config, ledger=StepLedger(tmp_path / "no-steps")
    )
    processes: list[subprocess.Popen[str]] = []
    try:
        with story.store() as store:
            processes.append(story.start())
            story.wait_running(processes[0])
            wait_for(lambda: any(r.leader for r in store.replicas.live()), timeout=10, what="lead")
            leader = next(r.name for r in store.replicas.live() if r.leader)
            processes.append(story.start())
            story.wait_running(processes[1])
            processes[0].send_signal(signal.SIGSTOP)  # the leader writes nothing from now on
            moved = commit_files(work, {"platform.yaml": platform_file("eu-central-1")}, "move")
            push(work)
            written = within(
                lambda: (status_document(bare) or {}).get("loaded_commit") == moved, timeout=8
            )
            assert [r.name for r in store.replicas.live() if r.leader] == [leader]
            assert not written, "a follower wrote the platform status"
    except BaseException:
        print(story.output())
        raise
    finally:
        for process in processes:
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=20)


# --- a database outage on one replica -----------------------------------------------------------


class Proxy:
    """A TCP relay to PostgreSQL for one replica: ``cut()`` drops its connections and refuses
    new ones (the database is gone for it alone) until ``mend()``."""

    def __init__(self, port: int = 5432) -> None:
        self._target = ("127.0.0.1", port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                if self._cut:
                    client.close()
                    continue
                upstream = socket.create_connection(self._target)
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._open.clear()

    def mend(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self.cut()
        self._server.close()


@pytest.mark.parametrize("outage", [5.0, 8.0], ids=["past-two-thirds-of-the-lease", "past-it"])
def test_a_replica_cut_from_the_database_ends_its_steps_and_runs_nothing_more(
    tmp_path: Path, postgres_url: str, outage: float
) -> None:
    """One replica loses the database for longer than two thirds of its 6 s lease: it ends its
    steps and exits non-zero, and the leader retries its work, each resource once at a time —
    though that replica keeps its own ``data_dir`` (another host: the leader cannot end its
    steps) and drains for 30 s, and the database answers it again before its lease expires."""
    story = make_fault_story(
        tmp_path, postgres_url, step_seconds=1.5, lease_ttl="6s", workers=2, replicas=True
    )
    # Ten actions of 1.5 s for the leader's two workers: work is still waiting when the far
    # replica has started, however long a loaded machine takes to start it.
    story.commit({f"apps/app{i}/score.yaml": score(f"app{i}", 2) for i in range(5)}, "5 apps")
    proxy = Proxy()
    far = tmp_path / "far.yaml"
    far.write_text(
        story.config.read_text()
        .replace(postgres_url, postgres_url.replace(":5432/", f":{proxy.port}/"))
        .replace(f"data_dir: {tmp_path / 'data'}", f"data_dir: {tmp_path / 'far-data'}")
        .replace("shutdown_grace: 1s", "shutdown_grace: 30s")
        .replace("workers: 2", "workers: 4")
    )
    processes: list[subprocess.Popen[str]] = []
    try:
        with story.store() as store:
            processes.append(story.start())
            story.wait_running(processes[0])
            wait_for(lambda: any(r.leader for r in store.replicas.live()), timeout=10, what="lead")
            story.config, near = far, story.config
            processes.append(story.start())
            story.wait_running(processes[1])
            story.config = near
            name = next(r.name for r in store.replicas.live() if not r.leader)
            wait_for(
                lambda: any(e.replica == name for e in store.executions.all(limit=100)),
                timeout=15,
                what="the far replica runs steps",
            )
            proxy.cut()
            time.sleep(outage)
            proxy.mend()
            assert processes[1].wait(timeout=20) != 0  # it lost its lease
            wait_for(lambda: _settled_apps(store, 5), timeout=30, what="settled")
        assert _steps(story).overlaps() == []
    except BaseException:
        print(story.output())
        raise
    finally:
        proxy.close()
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=40)


def _settled_apps(store: Store, apps: int) -> bool:
    try:
        return settled(store, apps=apps, resources=2) and store.ready.pending() == []
    except StoreError:
        return False


def test_a_replica_with_another_provider_set_never_fails_what_the_leader_can_run(
    tmp_path: Path, postgres_url: str
) -> None:
    story = make_fault_story(
        tmp_path, postgres_url, step_seconds=0.5, lease_ttl="6s", workers=1, replicas=True
    )
    story.commit({f"apps/app{i}/score.yaml": score(f"app{i}", 2) for i in range(4)}, "4 apps")
    other = tmp_path / "other-provider"
    shutil.copytree(tmp_path / "provider", other)
    manifest = other / "provider.yaml"
    manifest.write_text(manifest.read_text().replace("type: slow", "type: fast"))
    lacking = tmp_path / "lacking.yaml"
    lacking.write_text(
        story.config.read_text()
        .replace(f"path: {tmp_path / 'provider'}", f"path: {other}")
        .replace("workers: 1", "workers: 4")
    )
    with story.running() as processes:
        with story.store() as store:
            processes.append(story.start())
            story.wait_running(processes[0])
            wait_for(lambda: any(r.leader for r in store.replicas.live()), timeout=10, what="lead")
            story.config, near = lacking, story.config
            processes.append(story.start())
            story.wait_running(processes[1])
            story.config = near
            wait_for(lambda: _settled_apps(store, 4), timeout=25, what="settled")
            reasons = [
                t.reason for r in store.resources.all() for t in store.resources.transitions(r.uid)
            ]
        assert not [r for r in reasons if "no provider" in r]
        assert _steps(story).overlaps() == []


def test_offers_of_a_replaced_provider_set_are_claimed_once_the_leader_restamps_them(
    stores: list[Store], postgres_url: str
) -> None:
    """A replica claims only what was offered under its own provider set; after a reload the
    leader's reap stamps the offers nobody claimed with its new set, so none waits forever."""
    leader = replica(stores, postgres_url, "leader", lead=True)
    offer = Offer(uid="db.default#a.db", app="a", operation="create", shared=False)
    leader.ready.offer([replace(offer, providers="old-set")])
    assert leader.ready.claim("leader", limit=4, providers="new-set") == []
    assert leader.ready.restamp("new-set") == 1
    claimed = leader.ready.claim("leader", limit=4, providers="new-set")
    assert [a.uid for a in claimed] == [offer.uid]
    assert leader.ready.restamp("newer-set") == 0  # a claimed offer keeps what it was


# --- large batches ------------------------------------------------------------------------------


def test_a_batch_of_more_offers_than_a_statement_takes_is_written_not_retried_forever(
    stores: list[Store], postgres_url: str
) -> None:
    """A statement carries at most 65535 parameters: one flush of more offers (a first pass
    over a large installation, or offers kept through an outage) failed, was kept whole and
    failed again at every look — nothing was ever offered again."""
    first = replica(stores, postgres_url, "first", lead=True)
    many = 66_000
    offers = [
        Offer(uid=f"db.default#app{i}.db", app=f"app{i}", operation="create", shared=False)
        for i in range(many)
    ]
    assert len(first.ready.offer(offers)) == many
    first.ready.forget([a.id for a in first.ready.pending()])  # collected in one look, too
    assert first.ready.pending() == []

"""Issue "Safety under faults": `innominatus run` as a subprocess, killed and cut off (ARCHITECTURE
§6 invariant 9). A daemon killed with SIGKILL in the middle of a step never has that step run
twice at once: the next start ends what is left of it before retrying. Its database
connections cut by the server do not let a second daemon in. A daemon that loses its lease
ends its steps and exits non-zero, for a supervisor to restart it."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from reconciler.store.lease import Lease
from tests.e2e.ledger import kill9, make_fault_story, score, settled, wait_for

APP = "apps/shop/score.yaml"
UID = "slow.default#shop.r0"


def test_a_daemon_killed_mid_step_never_has_the_step_run_twice_at_once(
    tmp_path: Path, database_url: str
) -> None:
    story = make_fault_story(tmp_path, database_url, step_seconds=8)
    story.commit({APP: score("shop", 1)}, "add shop")
    first = story.start()
    second = None
    try:
        wait_for(lambda: story.ledger.starts() == 1, timeout=60, what="the create step starts")
        kill9(first)  # a few seconds into its 8 s step at most
        second = story.start()
        with story.store() as store:
            wait_for(lambda: settled(store, apps=1, resources=1), timeout=60, what="settled")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    except BaseException:
        print(story.output())
        raise
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                kill9(process)
    assert story.ledger.overlaps() == []
    killed, retried = story.ledger.runs()[UID]
    assert killed.stop is not None
    assert not killed.ended  # ended by the restart, a start into its 8 s
    assert retried.ended
    assert "process(es) its step left running" in story.output()


def test_a_sandboxed_step_dies_whole_with_a_killed_daemon_before_its_retry_starts(
    tmp_path: Path, database_url: str
) -> None:
    story = make_fault_story(tmp_path, database_url, step_seconds=8, sandbox=True)
    story.commit({APP: score("shop", 1)}, "add shop")
    first = story.start()
    second = None
    try:
        wait_for(lambda: story.ledger.starts() == 1, timeout=60, what="the create step starts")
        kill9(first)
        # No process of the step outlives the daemon: bubblewrap's PID namespace died with it.
        wait_for(lambda: not _step_processes(UID), timeout=10, what="the step's processes end")
        second = story.start()
        with story.store() as store:
            wait_for(lambda: settled(store, apps=1, resources=1), timeout=60, what="settled")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    except BaseException:
        print(story.output())
        raise
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                kill9(process)
    killed, retried = story.ledger.runs()[UID]
    assert not killed.ended
    assert killed.stop is None  # SIGKILLed whole: no trap could run
    assert retried.ended
    assert "process(es) its step left running" not in story.output()  # nothing to reap


def _step_processes(uid: str) -> list[int]:
    """Live processes whose environment names resource ``uid``."""
    marker = f"INNOMINATUS_RESOURCE_UID={uid}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if marker in environ.split(b"\0") and state not in ("Z", "X"):
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_cutting_the_daemons_database_connections_lets_no_second_daemon_in(
    tmp_path: Path, database_url: str
) -> None:
    story = make_fault_story(tmp_path, database_url, step_seconds=4, lease_ttl="6s")
    story.commit({APP: score("shop", 1)}, "add shop")
    first = story.start()
    try:
        wait_for(lambda: story.ledger.starts() == 1, timeout=60, what="the create step starts")
        libpq = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(libpq, autocommit=True) as connection:
            cut = connection.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert cut is not None
        assert cut[0] >= 1
        with story.store() as store:
            described = Lease(store._db, holder="observer", ttl=1, where="db").describe()
        assert described is not None
        expiry = described[2]  # the lease as it stood when the connections were cut
        second = story.start()
        assert second.wait(timeout=60) == 1
        assert "another innominatus daemon is using" in story.output()
        with story.store() as store:
            wait_for(lambda: settled(store, apps=1, resources=1), timeout=60, what="settled")
        # Past that expiry: only renewals over new connections keep the lease now.
        wait_for(lambda: datetime.now(UTC) > expiry, timeout=60, what="the cut lease's expiry")
        third = story.start()
        assert third.wait(timeout=60) == 1
        assert first.poll() is None  # the first daemon carries on
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    except BaseException:
        print(story.output())
        raise
    finally:
        if first.poll() is None:
            kill9(first)
    assert story.ledger.overlaps() == []
    [run] = story.ledger.runs()[UID]
    assert run.ended


def test_a_daemon_that_loses_its_lease_ends_its_steps_and_exits_non_zero(
    tmp_path: Path, database_url: str
) -> None:
    story = make_fault_story(tmp_path, database_url, step_seconds=60, lease_ttl="3s")
    story.commit({APP: score("shop", 1)}, "add shop")
    first = story.start()
    try:
        wait_for(lambda: story.ledger.starts() == 1, timeout=60, what="the create step starts")
        with story.store() as store:
            # Another daemon takes the database over (as one would after the lease expired).
            thief = Lease(store._db, holder="another-daemon", ttl=60, where="db")
            thief.acquire(takeover=True)
        taken = time.monotonic()
        assert first.wait(timeout=30) == 1
        assert time.monotonic() - taken < 8  # ttl/3 to notice, the kill grace to end the step
    except BaseException:
        print(story.output())
        raise
    finally:
        if first.poll() is None:
            kill9(first)
    output = story.output()
    assert "error: lease lost: another daemon may own the database now" in output
    [run] = story.ledger.runs()[UID]
    assert run.stop is not None  # told to stop (SIGTERM), when the daemon was fenced
    assert not run.ended

"""The doctor's read model (services.health): the facts of a depot, and the sentences naming
what needs a person, each problem made for real in the depot's database."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
from collections import namedtuple
from pathlib import Path

import pytest
from sqlalchemy import text

from dispatchdesk.services import StorageError, dispatch, set_setting
from dispatchdesk.services.health import examine
from dispatchdesk.services.outbox import Delivery, claim_due, record_result
from dispatchdesk.store import HEAD_REVISION
from dispatchdesk.store.checkpoint import lock_path

pytestmark = pytest.mark.usefixtures("partners")

Usage = namedtuple("Usage", "total used free")


@pytest.fixture(autouse=True)
def _roomy_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk is whatever this machine has; the tests say how full it is."""
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: Usage(100 * 1024**3, 50 * 1024**3, 50 * 1024**3))


@pytest.fixture
def due_notices(depot, new_order, clock):
    """Two notices to Swift Haulage, due now (no undo window)."""
    set_setting(depot, "undo_seconds", "0")
    for _ in range(2):
        dispatch(depot, new_order(), "Swift Haulage")
    return depot


def test_a_healthy_depot_has_no_problems_and_every_fact(db_path: Path, clock) -> None:
    report = examine(str(db_path), clock=clock)
    assert report.ok, report.problems
    lines = report.lines()
    assert lines[0].startswith(f"database: {db_path} (SQLite {sqlite3.sqlite_version})")
    assert "journal mode: wal" in lines
    assert f"schema: {HEAD_REVISION} (this dispatchdesk: {HEAD_REVISION})" in lines
    assert any(ln.startswith("size: ") for ln in lines)
    assert "free disk: 50.0 GB of 100.0 GB (50%) where the database is" in lines
    assert any(ln.startswith("WAL-reset bug: ") for ln in lines)
    assert "relay lag: 0 s (nothing due)" in lines
    assert "link Swift Haulage: untried" in lines
    assert "link Corner Bakery: by hand" in lines


def test_notices_due_with_no_relay_delivering_them_need_a_person(due_notices, db_path, clock) -> None:
    clock.advance(30)
    report = examine(str(db_path), clock=clock)
    assert report.relay is not None and report.relay.lag_seconds == 30 and not report.relay.workers
    assert report.problems == [
        "Notices have been due for 30 s and no relay is delivering them: start `dispatchdesk relay` "
        "(or a console without --no-relay)."
    ]
    # a moment after they became due, a relay may simply not have looked yet
    clock.advance(-25)
    assert examine(str(db_path), clock=clock).ok


def test_a_relay_lagging_behind_needs_a_person(due_notices, db_path, clock) -> None:
    clock.advance(90)
    assert len(claim_due(due_notices, "relay-1", limit=1, lease_seconds=60)) == 1  # alive, busy
    report = examine(str(db_path), clock=clock, max_lag=60)
    assert report.relay is not None and report.relay.workers == ["relay-1"]
    assert "relay workers: 1 alive (relay-1)" in report.lines()
    assert len(report.problems) == 1
    assert report.problems[0].startswith("The relay is 90 s behind (over the 60 s allowed): a notice has been due since")
    assert examine(str(db_path), clock=clock, max_lag=120).ok


def test_a_failing_link_needs_a_person(due_notices, db_path, clock) -> None:
    for n in claim_due(due_notices, "relay-1", limit=2, lease_seconds=60):
        assert record_result(due_notices, n.id, "relay-1", Delivery.retry("Connection refused", contacted=False))
    report = examine(str(db_path), clock=clock)
    link = next(ln for ln in report.links if ln.partner == "Swift Haulage")
    assert link.health == "error"
    assert len(report.problems) == 1
    assert report.problems[0].startswith("The link to Swift Haulage is failing: the last attempt, at ")
    assert "Connection refused" in report.problems[0]


def test_a_newer_schema_needs_a_person_and_nothing_is_changed(depot, db_path, clock) -> None:
    with depot.db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    depot.close()
    before = db_path.read_bytes()
    report = examine(str(db_path), clock=clock)
    assert report.problems == [
        f"The database {db_path} has schema version 9999, newer than this dispatchdesk knows (up to "
        f"{HEAD_REVISION}): it was last opened by a newer dispatchdesk, and every program here refuses "
        "it. Upgrade dispatchdesk on this machine (the other checks were skipped)."
    ]
    assert report.relay is None
    assert f"schema: 9999 (this dispatchdesk: {HEAD_REVISION})" in report.lines()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "9999"
    conn.close()
    assert len(db_path.read_bytes()) == len(before)


def test_an_affected_sqlite_without_the_guard_needs_a_person(depot, db_path, clock, monkeypatch) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.40.1")
    depot.close()
    lock_path(db_path).unlink(missing_ok=True)
    lock_path(db_path).mkdir()
    report = examine(str(db_path), clock=clock)
    assert len(report.problems) == 1
    assert report.problems[0].startswith(
        "SQLite 3.40.1 has the WAL-reset bug (rare corruption when two connections checkpoint while a "
        "third commits), and the guard that leaves checkpoints to one connection is off: its lock file ")
    assert any(ln.startswith("WAL-reset bug: SQLite 3.40.1 is affected and the guard is OFF") for ln in report.lines())


def test_the_guard_on_an_affected_sqlite_is_a_fact_not_a_problem(db_path, clock, monkeypatch) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.40.1")
    report = examine(str(db_path), clock=clock)
    assert report.ok
    assert report.database.wal_reset_affected is True
    assert report.database.guard is not None and report.database.guard["active"]


def test_a_fixed_sqlite_is_not_affected(db_path, clock, monkeypatch) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.51.3")
    report = examine(str(db_path), clock=clock)
    assert report.ok
    assert "WAL-reset bug: SQLite 3.51.3 is not affected" in report.lines()


@pytest.mark.parametrize(("free_gb", "total_gb"), [(0.5, 8), (4, 100)])
def test_a_nearly_full_disk_needs_a_person(db_path, clock, monkeypatch, free_gb, total_gb) -> None:
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda _p: Usage(int(total_gb * 1024**3), 0, int(free_gb * 1024**3)))
    report = examine(str(db_path), clock=clock)
    assert len(report.problems) == 1
    assert report.problems[0].startswith("The disk holding the database is nearly full: ")


def test_failed_notices_wait_for_a_dispatcher(due_notices, db_path, clock) -> None:
    for n in claim_due(due_notices, "relay-1", limit=2, lease_seconds=60):
        assert record_result(due_notices, n.id, "relay-1", Delivery.failed("400 Bad Request: no such depot"))
    report = examine(str(db_path), clock=clock)
    assert "2 notice(s) to Swift Haulage failed and wait for a dispatcher to retry or skip them " \
           "(the Link screen, key 3)." in report.problems


def test_the_json_has_the_facts_and_the_problems(due_notices, db_path, clock) -> None:
    clock.advance(30)
    data = examine(str(db_path), clock=clock).as_json()
    assert data["ok"] is False and len(data["problems"]) == 1
    assert data["database"]["schema"] == HEAD_REVISION and data["database"]["engine"] == "SQLite"
    assert data["relay"]["lag_seconds"] == 30 and data["relay"]["waiting"] == 2
    assert {ln["partner"] for ln in data["links"]} >= {"Swift Haulage", "Corner Bakery"}


def test_a_file_that_is_not_a_depot_is_refused_and_left_alone(tmp_path, clock) -> None:
    here = tmp_path / "elsewhere"
    here.mkdir()
    other = here / "recipes.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.close()
    with pytest.raises(StorageError, match="is not a dispatchdesk database"):
        examine(str(other), clock=clock)
    with pytest.raises(StorageError, match="There is no depot in"):
        examine(str(here / "missing.db"), clock=clock)
    assert sorted(p.name for p in here.iterdir()) == ["recipes.db"]


def test_consoles_and_relay_workers_present_are_listed(due_notices, db_path, clock) -> None:
    from dispatchdesk.services.presence import RELAY, join

    join(due_notices, screen="dispatch")
    join(due_notices, kind=RELAY, detail="worker depot1:4242:abcdef; endpoint http://127.0.0.1:8730/link")
    clock.advance(30)
    report = examine(str(db_path), clock=clock)
    assert report.consoles == [] and report.relay is not None and report.relay.workers == []  # gone stale
    join(due_notices, screen="dispatch")
    join(due_notices, kind=RELAY, detail="worker depot1:4242:abcdef; endpoint http://127.0.0.1:8730/link")
    report = examine(str(db_path), clock=clock)
    assert report.consoles == [f"tester@{socket.gethostname()}"]
    assert report.relay.workers == ["depot1:4242:abcdef"]
    # a relay is alive: notices due 30 s are lag under the limit, not "no relay"
    assert report.ok, report.problems
    assert "relay workers: 1 alive (depot1:4242:abcdef)" in report.lines()
    assert any(ln.startswith("consoles connected: 1 (tester@") for ln in report.lines())


def test_on_postgresql_the_facts_are_the_server_s(pg_fresh_url, clock) -> None:
    from dispatchdesk.store import Database

    Database.open(pg_fresh_url).close()  # a new depot there
    report = examine(pg_fresh_url, clock=clock)
    assert report.ok, report.problems
    db = report.database
    assert db.engine == "PostgreSQL" and db.version and db.size_bytes and db.size_bytes > 0
    assert db.wal_reset_affected is None and db.guard is None and db.free_bytes is None
    lines = report.lines()
    assert lines[0].startswith("database: postgresql+psycopg://postgres@127.0.0.1:5432/dd_test_")
    assert "free disk: not checked (the database lives on its server)" in lines
    assert not any(ln.startswith(("journal mode", "WAL-reset")) for ln in lines)


def test_a_check_that_cannot_take_part_in_the_guard_sees_the_depot_s_programs_guarded(
        depot, db_path, clock, monkeypatch) -> None:
    """An admin's monitoring user may not write next to the depot: its own guard is off, but the
    depot's programs hold the role, so nothing needs a person."""
    from dispatchdesk.store import checkpoint

    monkeypatch.setattr(sqlite3, "sqlite_version", "3.40.1")
    from dispatchdesk.store import Database

    depot.close()
    running = Database.open(db_path)  # a console: it takes the role
    try:
        assert running.checkpoint_guard is not None and running.checkpoint_guard.holds

        def refused(path, _db):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(checkpoint, "_open_lock_file", refused)
        report = examine(str(db_path), clock=clock)
        assert report.ok, report.problems
        assert report.database.guard is not None and not report.database.guard["active"]
        [line] = [ln for ln in report.lines() if ln.startswith("WAL-reset bug: ")]
        assert line.startswith("WAL-reset bug: SQLite 3.40.1 is affected; the guard is on in the depot's programs "
                               f"(checkpoints run by pid {os.getpid()} on ")
        assert line.endswith("not in this check: its lock file "
                             f"{checkpoint.lock_path(db_path)} cannot be used (Permission denied)")
        running.close()
        report = examine(str(db_path), clock=clock)  # nobody holds it now
        assert len(report.problems) == 1 and report.problems[0].startswith("SQLite 3.40.1 has the WAL-reset bug")
    finally:
        running.close()


def test_a_wal_that_checkpoints_do_not_keep_in_check_needs_a_person(depot, db_path, clock, monkeypatch) -> None:
    from dispatchdesk.services import health

    monkeypatch.setattr(health, "WAL_ALARM_BYTES", 1)  # any WAL at all is "too big" here
    report = examine(str(db_path), clock=clock)  # the depot is open: its WAL is there
    assert report.database.wal_bytes and report.database.wal_bytes > 1
    assert len(report.problems) == 1
    assert report.problems[0].startswith("The database's write-ahead log is ")
    assert "checkpoints are not keeping up (they are run by pid " in report.problems[0]

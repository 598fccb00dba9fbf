"""Database.wait_for_change: another session's commit wakes a waiter. On PostgreSQL the commit
notifies (LISTEN/NOTIFY), across processes, and a dropped listening connection is made again;
on SQLite the change counter is polled."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dispatchdesk.services import Depot, set_setting
from dispatchdesk.store import Database, listen
from dispatchdesk.store.listen import CHANNEL

SRC = Path(__file__).resolve().parents[2] / "src"
LONG = 30.0  # bounds only a failing wait


def _commit(d: Depot, name: str = "Leeds") -> int:
    set_setting(d, "depot_name", name)
    return d.db.change_seq()


def _wait_in_thread(db: Database, last: int, stop: threading.Event | None = None):
    pool = ThreadPoolExecutor(1)
    fut = pool.submit(db.wait_for_change, last, LONG, stop=stop)
    pool.shutdown(wait=False)
    return fut


def test_sqlite_a_commit_of_another_session_wakes_the_waiter(depot, db_path, open_depot):
    other = open_depot(db_path)
    seq = depot.db.change_seq()
    fut = _wait_in_thread(depot.db, seq)
    new = _commit(other)
    assert new == seq + 1
    assert fut.result(timeout=LONG) == new
    assert depot.db.changes.pushed is False and depot.db.changes.woken_by == "poll"


def test_sqlite_a_stopped_wait_returns_the_old_number(depot):
    seq = depot.db.change_seq()
    stop = threading.Event()
    fut = _wait_in_thread(depot.db, seq, stop)
    stop.set()
    assert fut.result(timeout=LONG) == seq
    # and a wait that times out says nothing changed
    assert depot.db.wait_for_change(seq, 0.0) == seq


# --------------------------------------------------------------------------- PostgreSQL

pg = pytest.mark.postgres


def _pg_listen(url: str):
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, autocommit=True)
    conn.execute(f"LISTEN {CHANNEL}")
    return conn


@pg
def test_postgresql_commits_notify_in_their_transaction(pg_fresh_url, open_depot):
    d = open_depot(pg_fresh_url)
    listener = _pg_listen(pg_fresh_url)
    try:
        # a transaction rolled back notifies nobody
        with d.uow() as uow:
            uow.session.connection().exec_driver_sql("UPDATE depot SET name = 'x' WHERE id = 1")
        new = _commit(d)
        got = [(n.channel, n.payload) for n in listener.notifies(timeout=LONG, stop_after=1)]
        assert got == [(CHANNEL, str(new))]
    finally:
        listener.close()


@pg
def test_postgresql_a_waiter_in_another_process_is_notified(pg_fresh_url, open_depot):
    """A console on another machine: its own process, its own connections. It must be woken by
    the notification itself (its safety-net read is put off for an hour)."""
    d = open_depot(pg_fresh_url)
    seq = d.db.change_seq()
    script = textwrap.dedent(f"""
        import sys
        from dispatchdesk.store import Database, listen
        listen.SAFETY_POLL = 3600.0
        db = Database.open({pg_fresh_url!r})
        seq = db.change_seq()
        db.wait_for_change(seq, 0.0)  # listening now; the first safety read is done
        print("ready", seq, flush=True)
        got = db.wait_for_change(seq, {LONG})
        print("got", got, db.changes.woken_by, flush=True)
        db.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().split() == ["ready", str(seq)]
        new = _commit(d)
        assert proc.stdout.readline().split() == ["got", str(new), "notify"]
        assert proc.wait(timeout=LONG) == 0
    finally:
        proc.kill()
        proc.wait()


@pg
def test_postgresql_a_dropped_listening_connection_is_made_again(pg_fresh_url, open_depot, monkeypatch):
    monkeypatch.setattr(listen, "SAFETY_POLL", 3600.0)  # only a notification can wake it
    d = open_depot(pg_fresh_url)
    other = open_depot(pg_fresh_url)
    seq = d.db.change_seq()
    assert d.db.wait_for_change(seq, 0.0) == seq  # listening
    assert d.db.changes.pushed
    # the server drops every listening connection (a restart, a network cut)
    with other.db.engine.connect() as conn:
        killed = conn.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE application_name = '{listen.APPLICATION_NAME}' AND datname = current_database()"
        ).scalar()
    assert killed and killed >= 1
    fut = _wait_in_thread(d.db, seq)
    new = _commit(other)
    assert fut.result(timeout=LONG) == new
    # and it listens again: the next commit comes by notification
    fut = _wait_in_thread(d.db, new)
    newer = _commit(other, "York")
    assert fut.result(timeout=LONG) == newer
    assert d.db.changes.woken_by == "notify"


@pg
def test_postgresql_closing_wakes_a_waiter(pg_fresh_url, monkeypatch):
    """The console ends: its watcher, asleep on the notifications, is woken at once (here it
    would otherwise sleep for an hour)."""
    monkeypatch.setattr(listen, "SLICE", 3600.0)
    monkeypatch.setattr(listen, "SAFETY_POLL", 3600.0)
    db = Database.open(pg_fresh_url)
    seq = db.change_seq()
    assert db.wait_for_change(seq, 0.0) == seq  # listening, first read done
    stop = threading.Event()
    fut = _wait_in_thread(db, seq, stop)
    stop.set()
    db.close()
    assert fut.result(timeout=LONG) == seq

"""SQLite's WAL-reset bug (store.checkpoint): on an affected SQLite exactly one connection per
depot, across processes, runs checkpoints; the others have automatic checkpoints off; the role
passes on when its holder goes; on a fixed SQLite nothing changes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import text

from dispatchdesk.store import Database
from dispatchdesk.store.checkpoint import lock_path, wal_reset_affected

SRC = Path(__file__).resolve().parents[2] / "src"


def _autocheckpoint(db: Database) -> int:
    """The setting on a connection of the engine's pool (what every write runs on)."""
    with db.engine.connect() as conn:
        return int(conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one())


def _checkpointer_setting(db: Database) -> int | None:
    """The setting on the guard's own checkpointing connection, if this Database holds the role."""
    g = db.checkpoint_guard
    if g is None or g._conn is None:
        return None
    return int(g._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("3.6.23", False),  # no WAL yet
        ("3.7.0", True),
        ("3.40.1", True),  # this machine's
        ("3.44.5", True),
        ("3.44.6", False),  # the backport
        ("3.50.6", True),
        ("3.50.7", False),  # the backport
        ("3.51.2", True),
        ("3.51.3", False),  # the fix
        ("3.52.0", False),
        ("3.53.4", False),
    ],
)
def test_which_sqlite_versions_have_the_wal_reset_bug(version: str, affected: bool) -> None:
    assert wal_reset_affected(version) is affected


@pytest.fixture
def affected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.40.1")


@pytest.fixture
def fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.51.3")


def test_on_an_affected_sqlite_one_connection_checkpoints_and_the_role_passes_on(
        affected: None, db_path: Path) -> None:
    a = Database.open(db_path)
    b = Database.open(db_path)
    try:
        # every pooled connection, in both, leaves checkpoints alone
        assert _autocheckpoint(a) == 0 and _autocheckpoint(b) == 0
        # exactly one of them holds the role, on a connection of its own that checkpoints
        holders = [d for d in (a, b) if d.checkpoint_guard is not None and d.checkpoint_guard.holds]
        assert holders == [a]
        assert _checkpointer_setting(a) == 1000 and _checkpointer_setting(b) is None
        assert a.checkpoint_status().active and b.checkpoint_status().active

        # what b writes, a's checkpointer folds into the file
        with b.engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        a.checkpoint_guard.tick()
        busy, frames, folded = a.checkpoint_status().last_checkpoint
        assert busy == 0 and frames > 0 and folded == frames

        a.close()
        b.checkpoint_guard.tick()  # the background thread does this every second
        assert b.checkpoint_guard.holds
        assert _checkpointer_setting(b) == 1000
        assert _autocheckpoint(b) == 0
        assert str(os.getpid()) in lock_path(db_path).read_text()
    finally:
        a.close()
        b.close()


def test_the_role_is_held_across_processes_and_taken_over_when_the_holder_exits(
        affected: None, db_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sqlite3, sys
        sqlite3.sqlite_version = "3.40.1"
        from dispatchdesk.store import Database
        db = Database.open({str(db_path)!r})
        print("holds" if db.checkpoint_guard.holds else "not", flush=True)
        sys.stdin.readline()
        db.close()
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(SRC)})
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "holds"
        here = Database.open(db_path)
        try:
            assert not here.checkpoint_guard.holds
            assert _autocheckpoint(here) == 0
            assert f"pid {child.pid}" in (here.checkpoint_status().holder or "")
            child.stdin.write("\n")
            child.stdin.flush()
            assert child.wait(timeout=30) == 0
            here.checkpoint_guard.tick()
            assert here.checkpoint_guard.holds
        finally:
            here.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_on_a_fixed_sqlite_nothing_changes(fixed: None, db_path: Path) -> None:
    a = Database.open(db_path)
    b = Database.open(db_path)
    try:
        assert a.checkpoint_guard is None and b.checkpoint_guard is None
        assert _autocheckpoint(a) == 1000 and _autocheckpoint(b) == 1000
        assert not lock_path(db_path).exists()
    finally:
        a.close()
        b.close()


def test_when_the_lock_file_cannot_be_used_the_guard_is_off_and_says_why(
        affected: None, db_path: Path) -> None:
    lock_path(db_path).mkdir()  # something in the way
    db = Database.open(db_path)
    try:
        status = db.checkpoint_status()
        assert status is not None and not status.active
        assert "cannot be used" in (status.problem or "")
        assert _autocheckpoint(db) == 1000  # as before the guard: SQLite's own checkpoints
    finally:
        db.close()


def test_a_file_refused_as_not_a_depot_gets_no_lock_file(affected: None, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.close()
    with pytest.raises(Exception, match="not a dispatchdesk database"):
        Database.open(other, create=False)
    assert not lock_path(other).exists()


def test_a_forked_child_keeps_checkpoints_off_and_does_not_inherit_the_role(affected: None, db_path: Path) -> None:
    db = Database.open(db_path)
    try:
        assert db.checkpoint_guard is not None and db.checkpoint_guard.holds
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: its pool's connections are the parent's, so it makes new ones
            code = 1
            try:
                db.engine.dispose(close=False)
                os.write(w, f"{_autocheckpoint(db)} {db.checkpoint_guard.holds}".encode())
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        answer = os.read(r, 100).decode()
        os.close(r)
        assert os.waitpid(pid, 0)[1] == 0
        assert answer == "0 False"  # off, and the parent (still alive) keeps the role
        assert db.checkpoint_guard.holds
    finally:
        db.close()

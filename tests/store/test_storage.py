"""A database that cannot take the change: locked, read-only, missing its directory, a full
disk. Each gets a StorageError whose message names the problem, and nothing is half-written."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest
from sqlalchemy import event

from dispatchdesk.services import (
    CancellationRequest,
    Depot,
    ReasonCode,
    StorageError,
    cancel,
    set_tags,
    trash,
)
from dispatchdesk.store import Database
from dispatchdesk.store import db as store_db

pytestmark = pytest.mark.usefixtures("partners")


@pytest.fixture
def order(depot, new_order) -> str:
    return new_order(source="Plain Client")


def test_locked_database(depot, db_path, order, counts, rows, monkeypatch, open_depot):
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 200)  # give up after 0.2 s, not 5
    quick = open_depot(db_path)
    c = counts(depot)
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StorageError) as e:
            trash(quick, order)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "is locked by another program; nothing was changed" in str(e.value)
    assert str(db_path) in str(e.value)
    assert counts(depot) == c
    assert rows(depot, order).order.status == "created"
    trash(quick, order)  # and once the lock is gone, it works
    assert rows(depot, order).order.status == "rejected"


def test_read_only_database(depot, db_path, order, counts, rows, clock):
    c = counts(depot)
    depot.close()  # let SQLite tidy the WAL away, as a depot left alone would be
    os.chmod(db_path, 0o444)
    os.chmod(db_path.parent, 0o555)
    try:
        # root ignores file permissions: SQLite's read-only mode is what a root test can rely on
        ro = Depot(Database.open(f"sqlite:///file:{db_path}?mode=ro&uri=true"), "tester", clock)
        try:
            with pytest.raises(StorageError) as e:
                trash(ro, order)
            assert "is read-only; nothing was changed. Check its file permissions." in str(e.value)
            assert str(db_path) in str(e.value)
            assert counts(ro) == c
            assert rows(ro, order).order.status == "created"
        finally:
            ro.close()
    finally:
        os.chmod(db_path.parent, 0o755)
        os.chmod(db_path, 0o644)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_file_and_directory(depot, db_path, order, counts, clock):
    c = counts(depot)
    depot.close()
    os.chmod(db_path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    os.chmod(db_path.parent, 0o555)
    try:
        with pytest.raises(StorageError) as e:
            d = Depot(Database.open(db_path), "tester", clock)
            try:
                trash(d, order)
            finally:
                d.close()
        assert str(db_path) in str(e.value)
        assert "read-only" in str(e.value) or "Cannot open" in str(e.value)
    finally:
        os.chmod(db_path.parent, 0o755)
        os.chmod(db_path, 0o644)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM audit").fetchone()[0] == c["audit"]


def test_missing_directory(tmp_path):
    where = tmp_path / "no" / "such" / "dir" / "depot.sqlite"
    with pytest.raises(StorageError) as e:
        Depot.open(where)
    assert str(e.value) == (
        f"Cannot open the database {where}: the directory {where.parent} does not exist."
    )
    assert not (tmp_path / "no").exists()


def test_not_a_database(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is a spreadsheet, honest" * 100)
    with pytest.raises(StorageError, match="is not a dispatchdesk database"):
        Depot.open(junk)


def test_disk_full_at_commit_writes_nothing(depot, order, counts, rows, monkeypatch):
    """The DBAPI fails the COMMIT as SQLite does when the disk fills up."""
    c = counts(depot)
    real = depot.db.engine.dialect.do_commit

    def full(dbapi_conn):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(depot.db.engine.dialect, "do_commit", full)
    with pytest.raises(StorageError) as e:
        cancel(depot, order, CancellationRequest(ReasonCode.DAMAGED))
    monkeypatch.setattr(depot.db.engine.dialect, "do_commit", real)
    assert "is full; nothing was changed. Free some space and try again." in str(e.value)
    assert counts(depot) == c
    x = rows(depot, order)
    assert x.order.status == "created" and x.cancellations == [] and x.notices == []
    assert all(ln.cancelled == 0 for ln in x.order.lines)


def test_disk_full_for_real_when_the_file_cannot_grow(depot, order, counts, rows):
    """SQLite's own SQLITE_FULL: the database file may not grow by a single page."""

    @event.listens_for(depot.db.engine, "connect")
    def cap(dbapi_conn, _record):
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    depot.db.engine.dispose()  # new connections get the cap
    before = rows(depot, order)
    with pytest.raises(StorageError) as e:
        for i in range(200):  # fill whatever room the last page has, then one more action
            set_tags(depot, order, add=[f"tag {i:03d} " + "x" * 40])
    assert "is full; nothing was changed. Free some space and try again." in str(e.value)
    event.remove(depot.db.engine, "connect", cap)
    depot.db.engine.dispose()
    # every action that went through is whole; the one that failed left nothing behind
    x = rows(depot, order)
    done = len(x.audit) - len(before.audit)
    assert done == len(x.order.tags) == x.order.version - before.order.version
    assert x.order.version == x.last.after_version

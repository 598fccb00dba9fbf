"""`dispatchdesk doctor`: one line per fact on standard output, exit 0 when nothing needs a
person; exit 1 with the sentences naming what does on standard error; --json for machines."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import namedtuple

import pytest
from sqlalchemy import text

from dispatchdesk.cli import main
from dispatchdesk.services import Depot, dispatch, set_setting
from dispatchdesk.services.outbox import Delivery, claim_due, record_result
from dispatchdesk.store import HEAD_REVISION
from dispatchdesk.store.checkpoint import lock_path
from dispatchdesk.store.models import utcnow

pytestmark = pytest.mark.usefixtures("partners")

Usage = namedtuple("Usage", "total used free")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("DISPATCHDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DISPATCHDESK_DB", raising=False)
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: Usage(100 * 1024**3, 50 * 1024**3, 50 * 1024**3))


@pytest.fixture
def doctor(capsys, db_path, depot):
    def run(*args: str):
        depot.close()  # the doctor is another program on the file
        rc = main(["doctor", "--db", str(db_path), *args])
        cap = capsys.readouterr()
        return rc, cap.out, cap.err

    return run


def test_a_healthy_depot_exits_0_with_one_line_per_fact(doctor, db_path):
    rc, out, err = doctor()
    assert rc == 0, err
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"database: {db_path} (SQLite {sqlite3.sqlite_version})"
    for start in ("journal mode: wal", f"schema: {HEAD_REVISION} (this dispatchdesk: {HEAD_REVISION})",
                  "size: ", "free disk: 50.0 GB of 100.0 GB (50%)", "WAL-reset bug: ",
                  "relay workers: none alive", "relay lag: 0 s (nothing due)",
                  "notices: 0 waiting, 0 failed", "link Swift Haulage: untried", "consoles connected: "):
        assert any(ln.startswith(start) for ln in lines), start
    assert lines[-1] == "Nothing needs a person."


def test_a_newer_schema_exits_1_with_the_sentence(doctor, depot, db_path):
    with depot.db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    rc, out, err = doctor()
    assert rc == 1
    assert err.strip() == (
        f"The database {db_path} has schema version 9999, newer than this dispatchdesk knows (up to "
        f"{HEAD_REVISION}): it was last opened by a newer dispatchdesk, and every program here refuses "
        "it. Upgrade dispatchdesk on this machine (the other checks were skipped).")
    assert "relay, links, consoles: not checked (schema 9999 is newer than this dispatchdesk)" in out


def test_a_lagging_relay_exits_1_with_the_sentence(doctor, depot, new_order):
    """The notices were made by the test's clock (2025), so they have been due a long time;
    a relay is alive (it holds a live claim, taken now by the real clock) but behind."""
    set_setting(depot, "undo_seconds", "0")
    for _ in range(2):
        dispatch(depot, new_order(), "Swift Haulage")
    assert claim_due(Depot(depot.db, clock=utcnow), "relay-7", limit=1, lease_seconds=300)
    rc, out, err = doctor()
    assert rc == 1
    assert "relay workers: 1 alive (relay-7)" in out
    assert err.startswith("The relay is ") and "s behind (over the 60 s allowed): a notice has been due since" in err


def test_no_relay_while_notices_are_due_exits_1(doctor, depot, new_order):
    set_setting(depot, "undo_seconds", "0")
    dispatch(depot, new_order(), "Swift Haulage")
    rc, _, err = doctor()
    assert rc == 1
    assert err.startswith("Notices have been due for ") and "no relay is delivering them" in err


def test_a_failing_link_exits_1_with_the_sentence(doctor, depot, new_order):
    set_setting(depot, "undo_seconds", "0")
    dispatch(depot, new_order(), "Swift Haulage")
    [n] = claim_due(depot, "relay-1", limit=1, lease_seconds=60)
    record_result(depot, n.id, "relay-1", Delivery.retry("Connection refused", contacted=False))
    rc, out, err = doctor()
    assert rc == 1
    assert any(ln.startswith("link Swift Haulage: error since ") for ln in out.splitlines())
    assert "The link to Swift Haulage is failing: the last attempt, at " in err
    assert "Connection refused" in err


def test_an_affected_sqlite_without_the_guard_exits_1(doctor, db_path, monkeypatch):
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.40.1")
    rc_ok, _, _ = doctor()
    assert rc_ok == 0  # with the guard on, the bug is only a fact
    lock_path(db_path).unlink()
    lock_path(db_path).mkdir()
    rc, out, err = doctor()
    assert rc == 1
    assert err.startswith("SQLite 3.40.1 has the WAL-reset bug")
    assert "and the guard that leaves checkpoints to one connection is off: its lock file" in err
    assert "WAL-reset bug: SQLite 3.40.1 is affected and the guard is OFF" in out


def test_json_for_machines(doctor, depot, db_path):
    rc, out, err = doctor("--json")
    assert rc == 0 and err == ""
    data = json.loads(out)
    assert data["ok"] is True and data["problems"] == []
    assert data["database"]["where"] == str(db_path)
    assert data["database"]["schema"] == data["database"]["code_schema"] == HEAD_REVISION
    assert data["relay"]["lag_seconds"] == 0
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    rc, out, _ = doctor("--json")
    data = json.loads(out)
    assert rc == 1 and data["ok"] is False and "schema version 9999" in data["problems"][0]


def test_not_a_depot_exits_1_and_nothing_is_made(doctor, tmp_path):
    missing = tmp_path / "elsewhere" / "x.db"
    missing.parent.mkdir()
    rc = main(["doctor", "--db", str(missing)])
    assert rc == 1
    assert list(missing.parent.iterdir()) == []


def test_a_bad_max_lag_is_a_usage_error(doctor, capsys):
    rc, _, err = doctor("--max-lag", "soon")
    assert rc == 2
    assert "--max-lag: 'soon' is not a number of seconds." in err

"""The database file at its edges (issue 10, items 9, 10, 12, 13): a newer schema, another
application's file, a file that is not there, a disk that fills while the demo is written,
and the words for a read-only or full disk."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from dispatchdesk.services import Depot, StorageError
from dispatchdesk.store import HEAD_REVISION, Database
from dispatchdesk.store import db as store_db
from dispatchdesk.store.models import Notice, Order, Partner


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]


@pytest.fixture
def other_app(tmp_path: Path) -> Path:
    path = tmp_path / "contacts.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO contacts (name) VALUES ('Ada')")
    return path


# --------------------------------------------------------------------------- 9: a newer schema


def test_a_newer_schema_is_one_sentence_naming_both_versions(db_path: Path):
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0042'")
    before = _digest(db_path)
    with pytest.raises(StorageError) as e:
        Depot.open(db_path)
    text = str(e.value)
    assert "\n" not in text and "Traceback" not in text
    assert "0042" in text and HEAD_REVISION in text and "newer" in text
    assert "upgrade dispatchdesk" in text.lower()
    assert _digest(db_path) == before


def test_another_alembic_application_is_not_taken_for_a_newer_dispatchdesk(tmp_path: Path):
    path = tmp_path / "their.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('ae1027a6acf')")
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(StorageError, match="is not a dispatchdesk database"):
        Depot.open(path)


# --------------------------------------------------------------------------- 10: not a depot


@pytest.mark.parametrize("create", [False, True])
def test_another_applications_file_is_refused_unchanged(other_app: Path, create: bool):
    before, tables = _digest(other_app), _tables(other_app)
    with pytest.raises(StorageError) as e:
        Depot.open(other_app, create=create)
    assert "is not a dispatchdesk database" in str(e.value) and "contacts" in str(e.value)
    assert "nothing was changed" in str(e.value)
    assert _digest(other_app) == before and _tables(other_app) == tables
    assert not Path(f"{other_app}-wal").exists() or Path(f"{other_app}-wal").stat().st_size == 0


def test_without_create_a_missing_file_is_refused_and_not_made(tmp_path: Path):
    path = tmp_path / "typo.db"
    with pytest.raises(StorageError) as e:
        Depot.open(path, create=False)
    assert "There is no depot" in str(e.value) and "init" in str(e.value)
    assert not path.exists()
    Depot.open(path, create=True).close()  # init makes it
    Depot.open(path, create=False).close()  # and then every command opens it


def test_without_create_an_empty_file_is_refused_unchanged(tmp_path: Path):
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(StorageError, match="There is no depot"):
        Depot.open(path, create=False)
    assert path.stat().st_size == 0


def test_the_command_line_does_not_make_a_depot_from_another_file(other_app: Path, capsys):
    from dispatchdesk.cli import main

    before = _digest(other_app)
    assert main(["--db", str(other_app), "order", "list"]) == 1
    assert "is not a dispatchdesk database" in capsys.readouterr().err
    assert _digest(other_app) == before


def test_the_command_line_does_not_make_a_depot_from_a_typo(tmp_path: Path, capsys):
    from dispatchdesk.cli import main

    path = tmp_path / "typo.db"
    assert main(["--db", str(path), "order", "list"]) == 1
    assert not path.exists()


# --------------------------------------------------------------------------- 12: demo on a full disk


def _page_limit(db: Database, pages: int) -> None:
    """SQLite as on a disk that fills: no more than `pages` pages in the file."""

    @event.listens_for(db.engine, "connect")
    def _limit(dbapi_conn, _record):
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    db.engine.dispose()


def _count(d: Depot, model) -> int:
    with d.uow(write=False) as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def test_a_demo_cut_short_by_a_full_disk_says_exactly_what_was_left(tmp_path: Path):
    from dispatchdesk.demo import build_demo

    d = Depot.open(tmp_path / "demo.db", create=True, actor="demo")
    try:
        with d.db.engine.connect() as conn:
            empty = conn.exec_driver_sql("PRAGMA page_count").scalar()
        _page_limit(d.db, empty + 40)  # room for the partners and a few orders, not for 300
        with pytest.raises(StorageError) as e:
            build_demo(d)
        text = str(e.value)
        partners, orders, notices = _count(d, Partner), _count(d, Order), _count(d, Notice)
    finally:
        d.close()
    assert partners and orders, "the limit should stop the demo part-way"
    assert "nothing was changed" not in text
    assert "full" in text
    assert f"{partners} partners" in text and f"{orders} orders" in text and f"{notices} notices" in text
    assert "delete" in text.lower() or "remove" in text.lower()


# --------------------------------------------------------------------------- 13: wording


def test_cannot_open_on_a_read_only_file_system_says_read_only(tmp_path: Path, monkeypatch):
    from sqlalchemy.exc import OperationalError

    path = tmp_path / "depot.db"
    path.touch()
    monkeypatch.setattr(store_db, "_read_only_fs", lambda p: True)
    err = OperationalError("PRAGMA journal_mode", {}, sqlite3.OperationalError("unable to open database file"))
    text = store_db.describe_db_error(err, str(path))
    assert "read-only" in text


def test_a_read_on_a_full_disk_says_the_disk_is_full(tmp_path: Path, monkeypatch):
    from sqlalchemy.exc import OperationalError

    path = tmp_path / "depot.db"
    path.touch()
    monkeypatch.setattr(store_db, "_disk_full", lambda p: True)
    err = OperationalError("SELECT", {}, sqlite3.OperationalError("disk I/O error"))
    text = store_db.describe_db_error(err, str(path))
    assert "full" in text and "refused the change" not in text


def test_an_unknown_error_does_not_claim_a_change_was_refused(tmp_path: Path):
    from sqlalchemy.exc import OperationalError

    err = OperationalError("SELECT", {}, sqlite3.OperationalError("something odd"))
    text = store_db.describe_db_error(err, str(tmp_path / "depot.db"))
    assert "refused the change" not in text and "something odd" in text

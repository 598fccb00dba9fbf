"""Migration 0004 (issue 9): a database at 0003 with stored messages upgrades with every row
kept, the new columns at their defaults, and message ids unique per partner, not per depot;
on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from test_migrations import T0, fill_0001, read_all

from dispatchdesk.store import HEAD_REVISION, Database

MESSAGES = [
    dict(id="m-1", partner_id=1, kind="order.new", received_at=T0,
         result=json.dumps({"order": "LD-000001", "result": "Received as LD-000001.", "digest": "ab"})),
    dict(id="m-2", partner_id=2, kind="order.status", received_at=T0, result=None),
]


def check(url: str) -> None:
    old = Database.open(url, migrate=False)
    try:
        old.migrate("0003")
        written = fill_0001(old)
        with old.engine.begin() as conn:
            for m in MESSAGES:
                conn.execute(text("INSERT INTO received_messages (id, partner_id, kind, received_at, result) "
                                  "VALUES (:id, :partner_id, :kind, :received_at, :result)"), m)
        tables = [*written, "received_messages"]
        before = read_all(old, tables)
    finally:
        old.close()
    db = Database.open(url)
    try:
        assert db.current_revision() == HEAD_REVISION
        after = read_all(db, tables)
        for table, rows in before.items():
            assert [{k: r[k] for k in rows[0]} for r in after[table]] == rows, f"{table} changed"
        assert [p["answer_within_seconds"] for p in after["partners"]] == [1800, 1800]
        assert all(n["answer_due_at"] is None for n in after["notices"])
        assert all(c["requested_by_id"] is None and c["request_message_id"] is None
                   for c in after["cancellations"])
        with db.engine.begin() as conn:  # the same id from another partner is another message
            conn.execute(text("INSERT INTO received_messages (id, partner_id, kind, received_at) "
                              "VALUES ('m-1', 2, 'order.new', :t)"), {"t": T0})
        with pytest.raises(IntegrityError), db.engine.begin() as conn:  # from the same, a repeat
            conn.execute(text("INSERT INTO received_messages (id, partner_id, kind, received_at) "
                              "VALUES ('m-1', 1, 'order.new', :t)"), {"t": T0})
    finally:
        db.close()


def test_upgrade_from_0003_keeps_every_message_sqlite(tmp_path):
    check(str(tmp_path / "old.sqlite"))


@pytest.mark.postgres
def test_upgrade_from_0003_keeps_every_message_postgres(pg_fresh_url):
    check(pg_fresh_url)

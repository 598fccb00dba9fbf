"""Migrations: the code's head is Alembic's head, and a database made by an older migration
upgrades with every row and value kept, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect, select, text
from sqlalchemy.exc import OperationalError

from dispatchdesk.services import Depot, cancel_shipment, receive
from dispatchdesk.store import HEAD_REVISION, Database, StorageError
from dispatchdesk.store.db import alembic_config
from dispatchdesk.store.models import Base, include_name

T0 = datetime(2024, 11, 2, 7, 30, 15, 250000, tzinfo=UTC)


def test_head_revision_is_alembics_head():
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [HEAD_REVISION]
    # one straight line of migrations, starting at 0001
    revs = [r.revision for r in script.walk_revisions()]
    assert revs[-1] == "0001" and len(set(revs)) == len(revs)


def test_fresh_database_matches_the_models(tmp_path):
    db = Database.open(tmp_path / "fresh.sqlite")
    try:
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"include_name": include_name}),
                                    Base.metadata)
        assert diff == [], f"the migrations and the models disagree: {diff}"
        assert db.current_revision() == HEAD_REVISION
    finally:
        db.close()


# --------------------------------------------------------------------------- an old database


def fill_0001(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Rows of every kind, written with plain SQL against the 0001 schema."""
    rows: dict[str, list[dict[str, Any]]] = {
        "depot": [
            dict(
                id=1,
                name="Leeds Depot",
                change_seq=41,
                next_order_seq=3,
                next_cancellation_seq=2,
                order_prefix="LD",
            )
        ],
        "settings": [dict(key="undo_seconds", value="15")],
        "partners": [
            dict(
                id=1,
                name="Northwind Retail",
                role="client",
                link="http",
                url="http://127.0.0.1:9/nw",
                secret="nw-secret-0123456789",
                email=None,
                cancel_method="api",
                window_seconds=0,
                reason_required=False,
                follow_up_after_send=False,
                auto_trash=True,
                rejection_maps_to="created",
                pass_cancellations=False,
                created_at=T0,
            ),
            dict(
                id=2,
                name="Swift Haulage",
                role="subcontractor",
                link="email",
                url=None,
                secret=None,
                email="desk@swift.example",
                cancel_method="api-window",
                window_seconds=1800,
                reason_required=True,
                follow_up_after_send=True,
                auto_trash=False,
                rejection_maps_to="rejected",
                pass_cancellations=True,
                created_at=T0,
            ),
        ],
        "orders": [
            dict(
                id=1,
                number="LD-000001",
                version=4,
                status="dispatched",
                source_id=1,
                assignee_id=2,
                partner_ref="NW-77",
                pickup_address="1 Quay, Hull",
                delivery_address="Ünïcode Straße 5, Köln",
                pickup_after=T0,
                deliver_by=None,
                parcels=3,
                weight_kg=12.25,
                archived=False,
                cancellation_requested=True,
                cancellation_request={"lines": {"CRATE": 1}, "message": "one less"},
                partner_not_informed=False,
                cancellation_refused=None,
                partner_status="accepted",
                partner_status_at=T0,
                replaces_id=None,
                created_at=T0,
                received_at=T0,
                dispatched_at=T0,
                status_changed_at=T0,
            ),
            dict(
                id=2,
                number="LD-000002",
                version=2,
                status="rejected",
                source_id=None,
                assignee_id=None,
                partner_ref=None,
                pickup_address="a",
                delivery_address="b",
                pickup_after=None,
                deliver_by=T0,
                parcels=1,
                weight_kg=0.0,
                archived=True,
                cancellation_requested=False,
                cancellation_request=None,
                partner_not_informed=True,
                cancellation_refused="picking started",
                partner_status=None,
                partner_status_at=None,
                replaces_id=1,
                created_at=T0,
                received_at=None,
                dispatched_at=None,
                status_changed_at=T0,
            ),
        ],
        "order_lines": [
            dict(
                id=1,
                order_id=1,
                lineno=1,
                article="CRATE",
                description="Apples",
                quantity=4,
                cancelled=1,
            ),
            dict(
                id=2, order_id=1, lineno=2, article="BOX", description="", quantity=1, cancelled=0
            ),
        ],
        "documents": [dict(id=1, order_id=2, kind="invoice", number="INV-9", created_at=T0)],
        "backorders": [dict(id=1, order_id=1, article="CRATE", quantity=2)],
        "tags": [dict(id=1, order_id=1, name="fragile"), dict(id=2, order_id=2, name="claim")],
        "audit": [
            dict(
                id=1,
                order_id=1,
                at=T0,
                actor="anna",
                action="dispatch",
                from_status="created",
                to_status="dispatched",
                reason=None,
                detail="Sent to Swift Haulage.",
                notices=["n-1"],
                followups=[1],
                before={"status": "created"},
                after_version=4,
                undoable_until=None,
                undone_by=None,
                undo_of=None,
            )
        ],
        "notices": [
            dict(
                id="n-1",
                order_id=1,
                partner_id=2,
                kind="order.new",
                transport="email",
                payload={"order": "LD-000001", "lines": [{"article": "CRATE", "quantity": 4}]},
                state="sent",
                seq=1,
                attempts=2,
                created_at=T0,
                release_at=None,
                next_attempt_at=None,
                last_error="timeout",
                sent_at=T0,
                acknowledged_at=None,
                outcome=None,
                answer=None,
                claimed_by=None,
                lease_until=None,
                awaits_answer=False,
            )
        ],
        "followups": [
            dict(
                id=1,
                order_id=1,
                partner_id=2,
                notice_id="n-1",
                text="Confirm with Swift Haulage that the order arrived.",
                created_at=T0,
                done_at=None,
                done_by=None,
                withdrawn=False,
            )
        ],
        "cancellations": [
            dict(
                id=1,
                number="CN-000001",
                order_id=1,
                reason="OTHER",
                comment="one less",
                internal_note="ask Bob",
                lines={"CRATE": 1},
                partial=True,
                state="done",
                answer=None,
                created_at=T0,
                actor="anna",
            )
        ],
    }
    meta = MetaData()
    with db.engine.begin() as conn:
        meta.reflect(conn)
        for table, values in rows.items():  # dict order respects the foreign keys
            conn.execute(meta.tables[table].insert(), values)
        if conn.dialect.name == "postgresql":  # as a restored dump does: sequences follow the ids
            for table, values in rows.items():
                if isinstance(values[0].get("id"), int):
                    conn.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :n)"),
                        {"n": max(v["id"] for v in values)},
                    )
    return rows


def read_all(db: Database, tables: list[str]) -> dict[str, list[dict[str, Any]]]:
    meta = MetaData()
    out = {}
    with db.engine.connect() as conn:
        meta.reflect(conn)
        for name in tables:
            t = meta.tables[name]
            out[name] = [dict(r._mapping) for r in conn.execute(select(t).order_by(*t.primary_key))]
    return out


def check_upgrade(url: str, open_: Any = None) -> None:
    old = Database.open(url, migrate=False)
    try:
        old.migrate("0001")
        assert old.current_revision() == "0001"
        assert "received_messages" not in inspect(old.engine).get_table_names()
        written = fill_0001(old)
        before = read_all(old, list(written))
    finally:
        old.close()

    # opening migrates to head by itself
    db = open_(url) if open_ else Depot.open(url, actor="tester").db
    try:
        assert db.current_revision() == HEAD_REVISION
        after = read_all(db, list(written))
        for table, old_rows in before.items():
            kept = [{k: r[k] for k in old_rows[0]} for r in after[table]]
            assert kept == old_rows, f"{table} changed in the upgrade"
        # the new columns got their defaults
        partners = read_all(db, ["partners"])["partners"]
        assert [bool(p["link_stopped"]) for p in partners] == [False, False]
        assert [p["last_contact_at"] for p in partners] == [None, None]
        assert read_all(db, ["received_messages"])["received_messages"] == []

        # upgrading again changes nothing
        db.migrate()
        db.migrate("head")
        assert db.current_revision() == HEAD_REVISION
        assert read_all(db, list(written)) == after

        # and the depot works on it: the old shipment can be called back, the client heard from
        depot = Depot(db, actor="tester")
        r = cancel_shipment(depot, "LD-000001", expected_version=4)
        assert (r.from_status.value, r.to_status.value, r.version) == ("dispatched", "created", 5)
        receive(
            depot,
            "Northwind Retail",
            {"id": "after-upgrade-1", "kind": "order.new", "order": "NW-78"},
        )
        assert (
            read_all(db, ["received_messages"])["received_messages"][0]["id"] == "after-upgrade-1"
        )
    finally:
        db.close()


def test_upgrade_from_0001_keeps_every_row_sqlite(tmp_path):
    check_upgrade(str(tmp_path / "old.sqlite"))


def test_upgrade_from_0001_through_database_open(tmp_path):
    check_upgrade(str(tmp_path / "old.sqlite"), Database.open)


def test_failed_upgrade_leaves_the_old_database_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "old.sqlite"
    old = Database.open(path, migrate=False)
    old.migrate("0001")
    fill_0001(old)
    before = read_all(old, ["partners", "orders", "notices"])
    old.close()
    from alembic import command

    real = command.upgrade

    def upgrade_then_fail(cfg, rev):
        real(cfg, rev)
        orig = sqlite3.OperationalError("database or disk is full")
        raise OperationalError("INSERT INTO alembic_version", {}, orig)

    monkeypatch.setattr(command, "upgrade", upgrade_then_fail)
    with pytest.raises(StorageError, match="is full; nothing was changed"):
        Depot.open(path)
    monkeypatch.undo()
    db = Database.open(path, migrate=False)
    try:
        assert db.current_revision() == "0001"
        assert read_all(db, ["partners", "orders", "notices"]) == before
    finally:
        db.close()


@pytest.mark.postgres
def test_upgrade_from_0001_keeps_every_row_postgres(pg_fresh_url):
    check_upgrade(pg_fresh_url)


@pytest.mark.postgres
def test_fresh_postgres_database_matches_the_models(pg_fresh_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = Database.open(pg_fresh_url)
    try:
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"include_name": include_name}),
                                    Base.metadata)
        assert diff == [], f"the migrations and the models disagree on PostgreSQL: {diff}"
    finally:
        db.close()

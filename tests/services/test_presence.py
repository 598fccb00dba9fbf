"""Who is here (services/presence.py): consoles join, beat, leave and go stale, on SQLite and on
PostgreSQL; a beat never bumps the change sequence and never waits on a locked database."""

from __future__ import annotations

import sqlite3

import pytest

from dispatchdesk.services import presence
from dispatchdesk.services.presence import (
    also_open,
    heartbeat,
    here_label,
    join,
    leave,
    others_on,
    present,
)


def _lifecycle(d, other, clock):
    seq = d.db.change_seq()
    me = join(d, screen="dispatch")
    you = join(other)
    assert {(v.id, v.who) for v in present(d)} == {(me, "tester"), (you, "anna")}
    assert d.db.change_seq() == seq, "presence must not refresh every screen"

    # the detail is open on one order: the other console names it, this one does not see itself
    assert heartbeat(other, you, open_order="DD-000042", screen="detail")
    assert [v.name for v in others_on(d, "DD-000042", me)] == [f"anna@{presence.this_host()}"]
    assert others_on(d, "DD-000042", you) == []
    assert others_on(d, "DD-000043", me) == []
    assert also_open(others_on(d, "DD-000042", me)) == f"Also open at: anna@{presence.this_host()}."
    assert here_label(present(d)) == "2 here"

    # the other console stops beating (killed with -9): after three beats it is gone, and pruned
    clock.advance(presence.HEARTBEAT_SECONDS * 2)
    assert heartbeat(d, me, screen="dispatch")
    assert len(present(d)) == 2  # two beats missed: still here
    clock.advance(presence.HEARTBEAT_SECONDS * 2)
    assert heartbeat(d, me, screen="dispatch")
    assert [v.id for v in present(d)] == [me]
    assert others_on(d, "DD-000042", me) == []

    # it comes back (a laptop woke up): its next beat writes its row again
    assert heartbeat(other, you, open_order=None)
    assert {v.id for v in present(d)} == {me, you}

    assert leave(other, you)
    assert [v.id for v in present(d)] == [me]
    assert d.db.change_seq() == seq


def test_join_beat_leave_and_stale_on_sqlite(depot, db_path, open_depot, clock):
    _lifecycle(depot, open_depot(db_path, actor="anna"), clock)


@pytest.mark.postgres
def test_join_beat_leave_and_stale_on_postgresql(pg_fresh_url, open_depot, clock):
    _lifecycle(open_depot(pg_fresh_url), open_depot(pg_fresh_url, actor="anna"), clock)


def test_relay_workers_are_listed_apart(depot):
    c = join(depot)
    r = join(depot, kind=presence.RELAY, screen="running", detail="host:1:abc")
    assert [v.id for v in present(depot, kind=presence.CONSOLE)] == [c]
    [relay] = present(depot, kind=presence.RELAY)
    assert (relay.id, relay.detail, relay.screen) == (r, "host:1:abc", "running")
    assert here_label(present(depot)) == "1 here"  # relay workers are not dispatchers


def test_a_beat_on_a_locked_database_is_skipped_not_waited_for(depot, db_path):
    me = join(depot)
    seq = depot.db.change_seq()
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        assert heartbeat(depot, me, open_order="DD-000001") is False
        assert leave(depot, me) is False
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # the console's connections are back to the usual patience for real actions
    with depot.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    assert heartbeat(depot, me, open_order="DD-000001")
    assert [v.open_order for v in present(depot)] == ["DD-000001"]
    assert depot.db.change_seq() == seq


def test_a_beat_on_an_unreachable_database_says_false(tmp_path, clock):
    from dispatchdesk.services import Depot
    from dispatchdesk.store import Database

    d = Depot(Database.open(tmp_path / "d.sqlite"), actor="x", clock=clock)
    me = join(d)
    d.db.engine.dispose()
    (tmp_path / "d.sqlite").unlink()
    (tmp_path / "d.sqlite").mkdir()  # not a database any more
    assert heartbeat(d, me) is False
    d.close()


# --------------------------------------------------------------------------- a conflict names who


def test_a_conflict_names_the_partner_who_changed_it(depot, partners, new_order):
    from dispatchdesk.services import Conflict, Trash, changed_by_someone, receive, trash
    from dispatchdesk.services.core import Status

    assert "by someone else" in changed_by_someone("DD-1", Status.CREATED)
    n = new_order(source="Plain Client", ref="PC-9")
    seen = Trash(n).preview(depot).version
    # the partner changes it meanwhile, over the link
    receive(depot, "Plain Client", {"id": "m-1", "kind": "order.changed", "order": "PC-9", "parcels": 9})
    with pytest.raises(Conflict, match=f"Order {n} was changed by the partner Plain Client while"):
        trash(depot, n, expected_version=seen)

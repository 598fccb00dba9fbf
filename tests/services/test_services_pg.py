"""The key flows once more on PostgreSQL (a depot whose dispatchers work on several machines):
dispatch, trash, cancellation numbers, undo, partner messages, bulk, and conflicts, read back
from the database."""

from __future__ import annotations

import pytest

from dispatchdesk.domain import Status, plan_trash
from dispatchdesk.services import (
    Bulk,
    CancellationRequest,
    Conflict,
    ReasonCode,
    Refused,
    Trash,
    cancel,
    dispatch,
    receive,
    release_held_notices,
    set_status,
    trash,
    undo,
)
from dispatchdesk.services.core import apply_plan, load_order, order_facts

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(pg_fresh_url: str, open_depot, add_partners):
    d = open_depot(pg_fresh_url)
    add_partners(d)
    return d


def test_dispatch_trash_and_undo(pg, clock, make_order, rows):
    n = make_order(pg, source="Plain Client", ref="PC-1")
    dispatch(pg, n, "Swift Haulage")
    r = trash(pg, n, expected_version=Trash(n).preview(pg).version)
    x = rows(pg, n)
    assert x.order.status == "rejected"
    assert [(m.kind, m.state) for m in x.notices] == [
        ("order.new", "queued"),
        ("order.rejected", "held"),
        ("order.revoked", "held"),
    ]
    assert x.notices[1].payload == {"order": n, "status": "rejected", "your_ref": "PC-1"}
    assert x.last.actor == "tester" and set(x.last.notices) == set(r.notices)

    clock.advance(5)
    undo(pg, n)
    x = rows(pg, n)
    assert x.order.status == "dispatched" and x.order.assignee.name == "Swift Haulage"
    assert [m.state for m in x.notices[1:]] == ["withdrawn", "withdrawn"]
    assert [a.action for a in x.audit[-2:]] == ["trash", "undo"]


def test_undo_refused_after_release(pg, clock, make_order):
    n = make_order(pg, source="Plain Client")
    trash(pg, n)
    clock.advance(10)
    assert release_held_notices(pg) == 1
    with pytest.raises(Refused, match="released for sending"):
        undo(pg, n)


def test_cancellation_numbers_and_partial(pg, make_order, rows, counts):
    a = make_order(pg, source="Plain Client", lines={"A": 5, "B": 1})
    b = make_order(pg, source="Plain Client")
    cancel(pg, a, CancellationRequest(ReasonCode.NOT_IN_STOCK, lines={"A": 2}))
    cancel(pg, b, CancellationRequest(ReasonCode.DAMAGED, number="SHOP-1"))
    x = rows(pg, a)
    assert x.order.status == "created"
    assert [ln.cancelled for ln in x.order.lines] == [2, 0]
    assert x.cancellations[0].number == "CN-000001" and x.cancellations[0].partial is True
    assert x.notices[0].payload["cancellation"] == "CN-000001"
    assert rows(pg, b).order.status == "cancelled"

    c = counts(pg)
    with pytest.raises(Refused, match="'SHOP-1' is already used"):
        cancel(pg, a, CancellationRequest(ReasonCode.DAMAGED, number="SHOP-1"))
    assert counts(pg) == c


def test_partner_messages(pg, rows):
    m = {
        "id": "pg-1",
        "kind": "order.new",
        "order": "NW-1",
        "lines": [{"article": "CRATE", "quantity": 2}],
        "deliver_by": "2025-03-15T17:00:00+01:00",
    }
    r = receive(pg, "Northwind Retail", m)
    assert receive(pg, "Northwind Retail", m).duplicate is True
    dispatch(pg, r.order, "Central Warehouse")
    # auto-trash acts when both sides agreed: Northwind's hello says it does (issue 9)
    receive(pg, "Northwind Retail", {"id": "pg-h", "kind": "link.hello", "capabilities": {"auto_trash": True}})
    receive(pg, "Northwind Retail", {"id": "pg-2", "kind": "order.revoked", "order": "NW-1"})
    x = rows(pg, r.order)
    assert x.order.status == "dispatched"  # waits for the warehouse
    [m] = [m for m in x.notices if m.kind == "order.cancellation"]
    receive(
        pg,
        "Central Warehouse",
        {"id": "pg-3", "kind": "notice.answer", "notice": m.id, "outcome": "accepted"},
    )
    x = rows(pg, r.order)
    assert x.order.status == "cancelled"
    assert x.cancellations[0].state == "done"


def test_bulk(pg, make_order, rows):
    good = make_order(pg, source="Plain Client")
    bad = make_order(pg, source="Plain Client", documents=[("invoice", "I-1")])
    result = Bulk((Trash(good), Trash(bad))).execute(pg)
    assert [i.ok for i in result.items] == [True, False]
    assert rows(pg, good).order.status == "rejected"
    assert rows(pg, bad).order.status == "created"


def test_stale_version_is_a_conflict(pg, pg_fresh_url, make_order, rows, counts, open_depot):
    n = make_order(pg, source="Plain Client")
    other = open_depot(pg_fresh_url, actor="colleague")
    v = Trash(n).preview(pg).version
    set_status(other, n, Status.ACCEPTED, expected_version=v)
    c = counts(pg)
    with pytest.raises(Conflict, match=f"Order {n} was changed by colleague while you were looking"):
        trash(pg, n, expected_version=v)
    assert counts(pg) == c
    assert rows(pg, n).order.status == "accepted"


def test_concurrent_writers_second_gets_conflict(pg, pg_fresh_url, make_order, rows, open_depot):
    """Two sessions read the order at once; the one that writes second is told, not obeyed."""
    n = make_order(pg, source="Plain Client")
    other = open_depot(pg_fresh_url, actor="colleague")
    with other.uow() as uow:
        mine = load_order(uow.session, n)  # read, not yet written
        set_status(pg, n, Status.ACCEPTED)  # the first writer commits meanwhile
        with pytest.raises(Conflict, match=f"Order {n} was changed by tester at the same moment"):
            apply_plan(other, uow.session, mine, plan_trash(order_facts(mine), other.now()))
    x = rows(pg, n)
    assert x.order.status == "accepted" and x.last.actor == "tester"
    assert x.notices[-1].kind == "order.status"

"""Issue 8 items 5 and 6 across two real depots: an edit before pickup reaches the
subcontractor's depot and is applied there; a return registered by the depot that delivered is
recorded on the client's order; neither changes a status."""

from __future__ import annotations

from linkkit import eventually, link, make_order, notice_states, order_row
from sqlalchemy import select

from dispatchdesk.services import (
    EditOrder,
    LineEdit,
    RegisterReturn,
    ReturnReason,
    Status,
    dispatch,
    set_status,
)
from dispatchdesk.store.models import AuditEntry, FollowUp, Order, Return


def _state(side, number: str, kind: str) -> str | None:
    for k, _partner, state in notice_states(side.depot, number):
        if k == kind:
            return state
    return None


async def _pair(make_side):
    a = await make_side("Alpha")
    b = await make_side("Bravo")
    link(a, b, a_sees_b=dict(role="subcontractor"), b_sees_a=dict(role="client"))
    number = make_order(a.depot)
    dispatch(a.depot, number, b.name)
    row = await eventually(lambda: order_row(b.depot, partner_ref=number), what="Bravo to receive it")
    return a, b, number, row.number


def _audit(depot, number: str) -> list[AuditEntry]:
    with depot.uow(write=False) as uow:
        s = uow.session
        oid = s.scalars(select(Order.id).where(Order.number == number)).one()
        out = list(s.scalars(select(AuditEntry).where(AuditEntry.order_id == oid).order_by(AuditEntry.id)))
        s.expunge_all()
        return out


async def test_an_edit_reaches_the_subcontractor_and_is_applied_there(make_side):
    a, b, number, theirs = await _pair(make_side)
    EditOrder(number, delivery_address="9 Low Street, York", parcels=7,
              lines=(LineEdit("BOX-S", 5),)).execute(a.depot)
    row = await eventually(
        lambda: (r := order_row(b.depot, number=theirs)).lines.get("BOX-S") == (5, 0) and r,
        what="Bravo's order to be changed",
    )
    assert row.status == "created" and row.lines == {"BOX-S": (5, 0), "PALLET": (1, 0)}
    with b.depot.uow(write=False) as uow:
        o = uow.session.scalars(select(Order).where(Order.number == theirs)).unique().one()
        assert (o.delivery_address, o.parcels) == ("9 Low Street, York", 7)
    entry = _audit(b.depot, theirs)[-1]
    assert entry.action == "partner changed" and entry.actor == "partner:Alpha"
    assert entry.detail.startswith("Alpha corrected it. Delivery address: 22 High Street, York → 9 Low Street, York.")
    assert "Parcels: 3 → 7." in entry.detail and "Line BOX-S: 2 → 5." in entry.detail
    await eventually(lambda: _state(a, number, "order.changed") == "acknowledged",
                     what="Alpha's change acknowledged by Bravo")


async def test_a_return_is_recorded_on_the_clients_order(make_side):
    a, b, number, theirs = await _pair(make_side)
    for st in (Status.ACCEPTED, Status.PICKED_UP, Status.DELIVERED):
        set_status(b.depot, theirs, st)
    await eventually(lambda: order_row(a.depot, number=number).status == "delivered",
                     what="Alpha to hear Delivered")
    RegisterReturn(theirs, lines={"BOX-S": 1}, reason_code=ReturnReason.DAMAGED,
                   comment="Crushed", return_number="RT-B1").execute(b.depot)

    def recorded():
        with a.depot.uow(write=False) as uow:
            r = uow.session.scalars(select(Return)).first()
            return r and (r.number, r.reason, r.lines, r.comment, r.reported_by.name)

    ret = await eventually(recorded, what="Alpha to record the return")
    assert ret == ("RT-B1", "DAMAGED", {"BOX-S": 1}, "Crushed", "Bravo")
    assert order_row(a.depot, number=number).status == "delivered"
    assert _audit(a.depot, number)[-1].action == "partner return"
    await eventually(lambda: _state(b, theirs, "order.return") == "acknowledged",
                     what="Bravo's return notice acknowledged")
    with a.depot.uow(write=False) as uow:
        assert not uow.session.scalars(select(FollowUp).where(FollowUp.text.contains("return"))).all()

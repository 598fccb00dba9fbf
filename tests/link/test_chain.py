"""The cancellation chain tells the truth (issue 9): shop <-> depot <-> warehouse, depot <-> depot.

Each test runs real depots (each its own SQLite file, its own relay listening on loopback) or a
depot and a recording partner, and asserts on both databases and on what the partner received.
"""

from __future__ import annotations

from linkkit import (
    Side,
    eventually,
    link,
    make_order,
    notice_states,
    order_row,
)
from sqlalchemy import select

from dispatchdesk.domain import Mark
from dispatchdesk.services import (
    CancellationRequest,
    ReasonCode,
    Status,
    add_document,
    cancel,
    cancel_shipment,
    dispatch,
    refuse_cancel_request,
    request_cancellation,
    set_status,
    trash,
)
from dispatchdesk.services.queries import board
from dispatchdesk.store.models import Notice


async def _pair(make_side, *, a_sees_b, b_sees_a, **kw) -> tuple[Side, Side]:
    a = await make_side("Alpha", **kw)
    b = await make_side("Bravo", **kw)
    link(a, b, a_sees_b=a_sees_b, b_sees_a=b_sees_a)
    return a, b


def _notices(side: Side, number: str, kind: str) -> list[Notice]:
    with side.depot.uow(write=False) as uow:
        q = select(Notice).where(Notice.kind == kind).order_by(Notice.seq)
        rows = [n for n in uow.session.scalars(q).unique() if n.order is not None and n.order.number == number]
        for n in rows:
            uow.session.expunge(n)
        return rows


def _state(side: Side, number: str, kind: str) -> str | None:
    states = [st for k, _p, st in notice_states(side.depot, number) if k == kind]
    return states[-1] if states else None


def _marks(side: Side, number: str) -> frozenset[Mark]:
    return next(c.marks for c in board(side.depot) if c.number == number)


async def _send_to_b(a: Side, b: Side) -> tuple[str, str]:
    number = make_order(a.depot)
    dispatch(a.depot, number, b.name)
    row = await eventually(lambda: order_row(b.depot, partner_ref=number), what=f"{b.name} to receive {number}")
    return number, row.number


async def _all_final(side: Side, number: str) -> list[tuple[str, str, str]]:
    """Wait until no notice of the order is held, queued or sent any more."""
    return await eventually(
        lambda: (st := notice_states(side.depot, number))
        and all(s not in ("held", "queued", "sent") for _k, _p, s in st) and st,
        what=f"every notice of {number} at {side.name} to reach a final state",
    )


# --------------------------------------------------------------------------- item 4


async def test_a_customers_request_does_not_cancel_an_order_with_an_invoice(make_side):
    # Alpha is the shop (a channel); Bravo received its order, untouched, but invoiced it
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor"), b_sees_a=dict(role="channel"))
    number, theirs = await _send_to_b(a, b)
    add_document(b.depot, theirs, "invoice", "INV-7")
    request_cancellation(a.depot, number, "The customer changed their mind.")
    row = await eventually(lambda: (r := order_row(b.depot, number=theirs)).cancellation_requested and r,
                           what="Bravo to flag the order")
    assert row.status == "created"  # not cancelled: the invoice keeps it for a dispatcher
    assert row.lines == {"BOX-S": (2, 0), "PALLET": (1, 0)}
    assert Mark.CANCELLATION_REQUESTED in _marks(b, theirs)
    # the shop has no answer yet: the dispatcher decides
    assert _state(a, number, "order.cancel_request") == "sent"
    assert order_row(a.depot, number=number).status == "dispatched"


async def test_auto_trash_runs_the_same_checks(make_side):
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor"),
                       b_sees_a=dict(role="client", auto_trash=True))
    number, theirs = await _send_to_b(a, b)
    add_document(b.depot, theirs, "delivery_note", "DN-3")
    cancel_shipment(a.depot, number)
    row = await eventually(lambda: (r := order_row(b.depot, number=theirs)).cancellation_requested and r,
                           what="Bravo to flag the order")
    assert row.status == "created"
    assert order_row(a.depot, number=number).status == "created"


# --------------------------------------------------------------------------- item 3


async def test_every_notice_between_two_depots_reaches_a_final_state(make_side):
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor"), b_sees_a=dict(role="client"))
    number, theirs = await _send_to_b(a, b)
    # B's receipt is an answer: acknowledged once A committed it, so B's order shows no
    # "notice waiting" for ever
    assert await _all_final(b, theirs) == [("notice.answer", "Alpha", "acknowledged")]
    assert Mark.NOTICE_WAITING not in _marks(b, theirs)
    assert await _all_final(a, number) == [("order.new", "Bravo", "acknowledged")]
    assert Mark.NOTICE_WAITING not in _marks(a, number)
    assert Mark.PARTNER_ACKNOWLEDGED in _marks(a, number)


async def test_a_refused_request_answers_the_shops_request(make_side):
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor"), b_sees_a=dict(role="channel"))
    number, theirs = await _send_to_b(a, b)
    add_document(b.depot, theirs, "invoice", "INV-8")
    request_cancellation(a.depot, number, "Please stop it.")
    await eventually(lambda: order_row(b.depot, number=theirs).cancellation_requested, what="flagged at Bravo")
    refuse_cancel_request(b.depot, theirs, "Already invoiced; it will be handled as a return.")
    # the shop's request gets its business answer: refused, with Bravo's message
    await eventually(lambda: _state(a, number, "order.cancel_request") == "acknowledged",
                     what="Alpha's request answered")
    (req,) = _notices(a, number, "order.cancel_request")
    assert req.outcome == "refused" and "handled as a return" in (req.answer or "")
    assert await _all_final(a, number)
    assert Mark.NOTICE_WAITING not in _marks(a, number)
    assert await _all_final(b, theirs)
    assert Mark.NOTICE_WAITING not in _marks(b, theirs)
    assert not order_row(b.depot, number=theirs).cancellation_requested


async def test_a_granted_request_answers_the_shops_request_and_cancels_there_too(make_side):
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor"), b_sees_a=dict(role="channel"))
    number, theirs = await _send_to_b(a, b)
    set_status(b.depot, theirs, Status.ACCEPTED)
    await eventually(lambda: order_row(a.depot, number=number).status == "accepted", what="Alpha hears Accepted")
    request_cancellation(a.depot, number, "Please stop it.")
    await eventually(lambda: order_row(b.depot, number=theirs).cancellation_requested, what="flagged at Bravo")
    # Bravo's dispatcher decides: cancel it (SPEC 4.4); the shop is told by a cancellation
    cancel(b.depot, theirs, CancellationRequest(ReasonCode.CLIENT_CANCELLED))
    row = await eventually(lambda: (r := order_row(a.depot, number=number)).status == "cancelled" and r,
                           what="Alpha's order cancelled")
    assert row.lines == {"BOX-S": (2, 2), "PALLET": (1, 1)}
    (req,) = _notices(a, number, "order.cancel_request")
    assert req.state == "acknowledged" and req.outcome == "accepted"
    assert await _all_final(a, number)
    assert await _all_final(b, theirs)
    assert [(k, st) for k, _p, st in notice_states(b.depot, theirs) if k == "order.cancellation"] == [
        ("order.cancellation", "acknowledged")]
    assert order_row(b.depot, number=theirs).status == "cancelled"


async def test_a_flagged_revocation_is_answered_when_the_subcontractor_trashes_it(make_side):
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor"),
                       b_sees_a=dict(role="client", auto_trash=False))
    number, theirs = await _send_to_b(a, b)
    cancel_shipment(a.depot, number)
    await eventually(lambda: order_row(b.depot, number=theirs).cancellation_requested, what="flagged at Bravo")
    assert _state(a, number, "order.revoked") == "sent"  # no answer yet: a dispatcher decides
    trash(b.depot, theirs)
    await eventually(lambda: _state(a, number, "order.revoked") == "acknowledged", what="the revocation answered")
    (rev,) = _notices(a, number, "order.revoked")
    assert rev.outcome == "accepted"
    assert await _all_final(b, theirs)
    assert await _all_final(a, number)
    assert order_row(a.depot, number=number).status == "created"  # taken back already: it stays
    assert order_row(a.depot, number=number).assignee is None
    assert order_row(b.depot, number=theirs).status == "rejected"

"""Two real depots on loopback, each its own SQLite database and its own relay listening on
127.0.0.1: every flow of SPEC 4 across the pair, checked in both databases afterwards.
"""

from __future__ import annotations

import pytest
from linkkit import (
    SECRET,
    RetryPolicy,
    Side,
    count,
    eventually,
    link,
    make_order,
    notice_states,
    order_row,
)
from sqlalchemy import select

from dispatchdesk.link.relay import Relay
from dispatchdesk.services import (
    CancellationRequest,
    ReasonCode,
    Status,
    cancel,
    cancel_shipment,
    dispatch,
    request_cancellation,
    set_status,
    trash,
)
from dispatchdesk.store.models import Cancellation, FollowUp, Order


async def _pair(make_side, *, a_sees_b, b_sees_a, **kw) -> tuple[Side, Side]:
    a = await make_side("Alpha", **kw)
    b = await make_side("Bravo", **kw)
    link(a, b, a_sees_b=a_sees_b, b_sees_a=b_sees_a)
    return a, b


def _state(side: Side, number: str, kind: str) -> str | None:
    for k, _partner, state in notice_states(side.depot, number):
        if k == kind:
            return state
    return None


async def _send_to_b(a: Side, b: Side) -> tuple[str, str]:
    """A dispatches a new order to B; returns (A's number, B's number)."""
    number = make_order(a.depot)
    dispatch(a.depot, number, b.name)
    row = await eventually(lambda: order_row(b.depot, partner_ref=number), what=f"{b.name} to receive {number}")
    return number, row.number


async def test_a_sends_to_b_and_b_sees_an_inbound_created_order(make_side):
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor"), b_sees_a=dict(role="client"))
    number, theirs = await _send_to_b(a, b)
    row = order_row(b.depot, number=theirs)
    assert row.status == "created" and row.source == "Alpha" and row.partner_ref == number
    assert row.lines == {"BOX-S": (2, 0), "PALLET": (1, 0)}
    # B's receipt comes back: A can see that B heard
    await eventually(lambda: _state(a, number, "order.new") == "acknowledged", what="A's notice acknowledged by B")
    assert order_row(a.depot, number=number).status == "dispatched"


@pytest.mark.parametrize("maps_to, expected", [("rejected", "rejected"), ("created", "created")])
async def test_b_trashes_it_and_a_sees_rejected_or_created_as_its_setting_says(make_side, maps_to, expected):
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor", rejection_maps_to=maps_to),
                       b_sees_a=dict(role="client"))
    number, theirs = await _send_to_b(a, b)
    trash(b.depot, theirs)
    row = await eventually(lambda: (r := order_row(a.depot, number=number)).status == expected and r,
                           what=f"A's order to become {expected}")
    assert row.partner_status == "rejected"
    assert row.assignee == ("Bravo" if expected == "rejected" else None)
    assert order_row(b.depot, number=theirs).status == "rejected"
    await eventually(lambda: _state(b, theirs, "order.rejected") == "acknowledged",
                     what="B's rejection notice acknowledged by A")


@pytest.mark.parametrize("auto_trash", [True, False])
async def test_a_revokes_and_b_cancels_or_flags_as_auto_trash_says(make_side, auto_trash):
    # auto-trash acts only when both depots agreed to it (their hellos say so)
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor", auto_trash=auto_trash),
                       b_sees_a=dict(role="client", auto_trash=auto_trash))
    number, theirs = await _send_to_b(a, b)
    if auto_trash:
        await eventually(lambda: _agreed(b, "Alpha"), what="Bravo to hear Alpha's agreement")
    cancel_shipment(a.depot, number)
    assert order_row(a.depot, number=number).status == "created"
    if auto_trash:
        row = await eventually(lambda: (r := order_row(b.depot, number=theirs)).status == "cancelled" and r,
                               what="B's order to be cancelled")
        assert not row.cancellation_requested
        # B's business answer comes back: A's revocation is acknowledged
        await eventually(lambda: _state(a, number, "order.revoked") == "acknowledged",
                         what="A's revocation to be acknowledged")
    else:
        row = await eventually(lambda: (r := order_row(b.depot, number=theirs)).cancellation_requested and r,
                               what="B's order to be flagged")
        assert row.status == "created"
        await eventually(lambda: _state(a, number, "order.revoked") == "sent", what="A's revocation sent")
    # A's order is back in Created and can be sent again
    assert order_row(a.depot, number=number).assignee is None


def _agreed(side: Side, partner: str) -> bool:
    from dispatchdesk.store.models import Partner

    with side.depot.uow(write=False) as uow:
        p = uow.session.scalars(select(Partner).where(Partner.name == partner)).one()
        return p.auto_trash_agreed_at is not None


async def test_undo_inside_the_window_means_b_never_hears(make_side):
    from dispatchdesk.services import undo

    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor"),
                       b_sees_a=dict(role="client", auto_trash=True), undo_seconds=30)
    number, theirs = await _send_to_b(a, b)
    cancel_shipment(a.depot, number)
    assert _state(a, number, "order.revoked") == "held"
    undo(a.depot, number)
    assert _state(a, number, "order.revoked") == "withdrawn"
    assert order_row(a.depot, number=number).status == "dispatched"
    # nothing more reaches B: its order stays Created with no flag
    assert order_row(b.depot, number=theirs).status == "created"


async def test_a_channel_cancellation_request_while_still_created_cancels_at_once_and_tells_the_channel(make_side):
    # Alpha is the channel (a shop): it passes its customer's order to Bravo
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor"), b_sees_a=dict(role="channel"))
    number, theirs = await _send_to_b(a, b)
    request_cancellation(a.depot, number, "The customer changed their mind.")
    await eventually(lambda: order_row(b.depot, number=theirs).status == "cancelled", what="B cancels at once")
    # the channel is told: its request is acknowledged with B's answer
    await eventually(lambda: _state(a, number, "order.cancel_request") == "acknowledged",
                     what="A's request to be acknowledged")
    with a.depot.uow(write=False) as uow:
        from dispatchdesk.store.models import Notice

        n = uow.session.scalars(select(Notice).where(Notice.kind == "order.cancel_request")).unique().one()
        assert n.outcome == "accepted"


async def test_a_channel_cancellation_request_in_progress_is_flagged(make_side):
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor"), b_sees_a=dict(role="channel"))
    number, theirs = await _send_to_b(a, b)
    set_status(b.depot, theirs, Status.ACCEPTED)  # B's own driver took it
    await eventually(lambda: order_row(a.depot, number=number).status == "accepted", what="A hears Accepted")
    request_cancellation(a.depot, number, "Please stop it.", lines={"BOX-S": 1})
    row = await eventually(lambda: (r := order_row(b.depot, number=theirs)).cancellation_requested and r,
                           what="B's order to be flagged")
    assert row.status == "accepted"
    with b.depot.uow(write=False) as uow:
        o = uow.session.scalars(select(Order).where(Order.number == theirs)).unique().one()
        assert o.cancellation_request["lines"] == {"BOX-S": 1}
        assert o.cancellation_request["message"] == "Please stop it."


async def test_a_warehouse_refuses_a_cancellation_once_it_has_picked(make_side):
    patient = RetryPolicy(delays=(0.2,) * 50, jitter=0.0)
    a = await make_side("Alpha", policy=patient)
    w = await make_side("Whse", policy=patient)
    link(a, w, a_sees_b=dict(role="warehouse"), b_sees_a=dict(role="client"))
    number, theirs = await _send_to_b(a, w)
    set_status(w.depot, theirs, Status.ACCEPTED)
    await eventually(lambda: order_row(a.depot, number=number).status == "accepted", what="A hears Accepted")
    # the warehouse picks while its relay is down: A has not heard of it when it cancels
    host, port = w.relay.address
    await w.relay.stop()
    set_status(w.depot, theirs, Status.PICKED_UP)
    res = cancel(a.depot, number, CancellationRequest(ReasonCode.CLIENT_CANCELLED, comment="Stop, please."))
    assert res.to_status is Status.ACCEPTED  # a warehouse cancellation waits for its answer
    await eventually(lambda: _state(a, number, "order.cancellation") == "queued", what="A's cancellation queued")
    w.relay = Relay(w.depot, listen=f"{host}:{port}", worker_id="relay-Whse-2", policy=patient, poll_interval=0.05,
                    deadline=3.0)
    await w.relay.start()
    row = await eventually(lambda: (r := order_row(a.depot, number=number)).cancellation_refused and r,
                           what="A to hear the refusal")
    assert "handled as a return" in row.cancellation_refused
    assert row.status in ("accepted", "picked_up")  # the order stays as it was (and then hears Picked up)
    assert order_row(w.depot, number=theirs).status == "picked_up"
    with a.depot.uow(write=False) as uow:
        s = uow.session
        c = s.scalars(select(Cancellation)).one()
        assert c.state == "refused" and "return" in (c.answer or "")
        texts = [f.text for f in s.scalars(select(FollowUp))]
    assert any("refused to cancel" in t and "as a return" in t for t in texts)
    await eventually(lambda: _state(a, number, "order.cancellation") == "acknowledged", what="acknowledged")


async def test_the_secret_must_match_on_both_sides(make_side):
    a = await make_side("Alpha")
    b = await make_side("Bravo")
    from dispatchdesk.services import PartnerInput, add_partner

    add_partner(a.depot, PartnerInput(name="Bravo", role="subcontractor", url=b.url, secret=SECRET))
    add_partner(b.depot, PartnerInput(name="Alpha", role="client", url=a.url, secret=SECRET + "-typo"))
    number = make_order(a.depot)
    dispatch(a.depot, number, "Bravo")
    await eventually(lambda: _state(a, number, "order.new") == "failed", what="the notice to fail")
    with a.depot.uow(write=False) as uow:
        from dispatchdesk.store.models import Notice

        n = uow.session.scalars(select(Notice)).unique().one()
        assert n.last_error.startswith("HTTP 401") and "same shared secret" in n.last_error
    assert count(b.depot, Order) == 0

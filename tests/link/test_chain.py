"""The cancellation chain tells the truth (issue 9): shop <-> depot <-> warehouse, depot <-> depot.

Each test runs real depots (each its own SQLite file, its own relay listening on loopback) or a
depot and a recording partner, and asserts on both databases and on what the partner received.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from linkkit import (
    SECRET,
    RetryPolicy,
    ScriptedPartner,
    Side,
    eventually,
    link,
    make_order,
    notice_states,
    order_row,
)
from sqlalchemy import select

from dispatchdesk.domain import Mark
from dispatchdesk.link.relay import Relay
from dispatchdesk.services import (
    CancellationRequest,
    PartnerInput,
    ReasonCode,
    Status,
    add_document,
    add_partner,
    cancel,
    cancel_shipment,
    dispatch,
    partner_input,
    receive,
    refuse_cancel_request,
    request_cancellation,
    set_setting,
    set_status,
    trash,
    update_partner,
)
from dispatchdesk.services.queries import board
from dispatchdesk.store.models import Cancellation, FollowUp, Notice, Order, ReceivedMessage


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


def _partner(side: Side, name: str):  # noqa: ANN202
    from dispatchdesk.services.queries import partners

    return next(p for p in partners(side.depot) if p.name == name)


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
    # the shop has no answer yet: the dispatcher decides (its relay records the delivery
    # itself a moment after Bravo committed the flag)
    await eventually(lambda: _state(a, number, "order.cancel_request") == "sent",
                     what="Alpha to record the request as delivered")
    assert order_row(a.depot, number=number).status == "dispatched"


async def test_auto_trash_runs_the_same_checks(make_side):
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor", auto_trash=True),
                       b_sees_a=dict(role="client", auto_trash=True))
    number, theirs = await _send_to_b(a, b)
    await eventually(lambda: _partner(b, "Alpha").auto_trash_agreed_at, what="both sides agreed")
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
    # no answer yet: a dispatcher decides (Alpha's relay records the delivery a moment later)
    await eventually(lambda: _state(a, number, "order.revoked") == "sent", what="the revocation delivered")
    trash(b.depot, theirs)
    await eventually(lambda: _state(a, number, "order.revoked") == "acknowledged", what="the revocation answered")
    (rev,) = _notices(a, number, "order.revoked")
    assert rev.outcome == "accepted"
    assert await _all_final(b, theirs)
    assert await _all_final(a, number)
    assert order_row(a.depot, number=number).status == "created"  # taken back already: it stays
    assert order_row(a.depot, number=number).assignee is None
    assert order_row(b.depot, number=theirs).status == "rejected"


# --------------------------------------------------------------------------- items 1 and 2

PATIENT = RetryPolicy(delays=(0.2,) * 50, jitter=0.0)


async def _chain(make_side) -> tuple[Side, Side, Side, str, str, str]:
    """Shop (a channel) -> Depot -> Whse (a warehouse): an order the shop sent, which the depot
    forwarded to the warehouse, which accepted it. Returns the sides and the three numbers."""
    shop = await make_side("Shop", policy=PATIENT)
    dep = await make_side("Depot", policy=PATIENT)
    wh = await make_side("Whse", policy=PATIENT)
    link(shop, dep, a_sees_b=dict(role="warehouse"), b_sees_a=dict(role="channel"), secret=SECRET + "-shop")
    link(dep, wh, a_sees_b=dict(role="warehouse"), b_sees_a=dict(role="client"), secret=SECRET + "-whse")
    number = make_order(shop.depot)
    dispatch(shop.depot, number, "Depot")
    dep_no = (await eventually(lambda: order_row(dep.depot, partner_ref=number), what="Depot receives")).number
    dispatch(dep.depot, dep_no, "Whse")
    wh_no = (await eventually(lambda: order_row(wh.depot, partner_ref=dep_no), what="Whse receives")).number
    set_status(wh.depot, wh_no, Status.ACCEPTED)
    await eventually(lambda: order_row(shop.depot, number=number).status == "accepted", what="the shop hears Accepted")
    return shop, dep, wh, number, dep_no, wh_no


async def _restart(side: Side, address: tuple[str, int]) -> None:
    host, port = address
    side.relay = Relay(side.depot, listen=f"{host}:{port}", worker_id=f"relay-{side.name}-2", policy=PATIENT,
                       poll_interval=0.05, deadline=3.0)
    await side.relay.start()


def _answers_to(side: Side, notice_id: str) -> list[Notice]:
    with side.depot.uow(write=False) as uow:
        rows = [n for n in uow.session.scalars(select(Notice).where(Notice.kind == "notice.answer")).unique()
                if (n.payload or {}).get("notice") == notice_id]
        for n in rows:
            uow.session.expunge(n)
        return rows


async def test_the_shops_cancellation_waits_for_the_warehouse_which_refuses(make_side):
    shop, dep, wh, number, dep_no, wh_no = await _chain(make_side)
    # the warehouse starts picking while its relay is down: the depot has not heard of it
    address = wh.relay.address
    await wh.relay.stop()
    set_status(wh.depot, wh_no, Status.PICKED_UP)
    cancel(shop.depot, number, CancellationRequest(ReasonCode.CLIENT_CANCELLED, comment="Customer left."))
    (shop_c,) = _notices(shop, number, "order.cancellation")
    await eventually(lambda: order_row(dep.depot, number=dep_no).status == "accepted"
                     and _state(dep, dep_no, "order.cancellation") == "queued"
                     and _notices(dep, dep_no, "order.cancellation")[0].attempts >= 1,
                     what="the depot trying the warehouse")
    # the depot has NOT answered the shop: its answer waits for the warehouse's
    assert _answers_to(dep, shop_c.id) == []
    await eventually(lambda: _state(shop, number, "order.cancellation") == "sent", what="the shop's delivery")
    assert Mark.NOTICE_WAITING in _marks(shop, number) and Mark.NOTICE_WAITING in _marks(dep, dep_no)
    assert order_row(shop.depot, number=number).status == "accepted"

    await _restart(wh, address)
    row = await eventually(lambda: (r := order_row(shop.depot, number=number)).cancellation_refused and r,
                           what="the shop to hear the warehouse's refusal")
    assert "Whse refused" in row.cancellation_refused and "handled as a return" in row.cancellation_refused
    assert row.status in ("accepted", "picked_up")
    assert row.lines == {"BOX-S": (2, 0), "PALLET": (1, 0)}
    (c,) = _notices(shop, number, "order.cancellation")
    assert c.state == "acknowledged" and c.outcome == "refused"
    # the depot answered only after the warehouse did
    (wh_c,) = _notices(dep, dep_no, "order.cancellation")
    (ans,) = _answers_to(dep, shop_c.id)
    assert wh_c.outcome == "refused" and ans.created_at >= wh_c.acknowledged_at
    assert ans.payload["outcome"] == "refused"
    d = order_row(dep.depot, number=dep_no)
    assert d.status in ("accepted", "picked_up") and d.lines == {"BOX-S": (2, 0), "PALLET": (1, 0)}
    with dep.depot.uow(write=False) as uow:
        canc = uow.session.scalars(select(Cancellation)).one()
        assert canc.state == "refused"
        texts = [f.text for f in uow.session.scalars(select(FollowUp))]
    assert not any("Shop too" in t for t in texts)  # the shop asked: no "cancel it at Shop too"
    assert order_row(wh.depot, number=wh_no).status == "picked_up"
    for side, n in ((shop, number), (dep, dep_no), (wh, wh_no)):
        await _all_final(side, n)


async def test_the_shops_cancellation_waits_for_the_warehouse_which_accepts(make_side):
    shop, dep, wh, number, dep_no, wh_no = await _chain(make_side)
    cancel(shop.depot, number, CancellationRequest(ReasonCode.CLIENT_CANCELLED))
    row = await eventually(lambda: (r := order_row(shop.depot, number=number)).status == "cancelled" and r,
                           what="the shop's order cancelled")
    assert row.lines == {"BOX-S": (2, 2), "PALLET": (1, 1)} and not row.cancellation_refused
    (shop_c,) = _notices(shop, number, "order.cancellation")
    assert shop_c.outcome == "accepted"
    (wh_c,) = _notices(dep, dep_no, "order.cancellation")
    (ans,) = _answers_to(dep, shop_c.id)
    assert wh_c.outcome == "accepted" and ans.created_at >= wh_c.acknowledged_at
    assert order_row(dep.depot, number=dep_no).status == "cancelled"
    assert order_row(wh.depot, number=wh_no).status == "cancelled"
    with dep.depot.uow(write=False) as uow:
        assert uow.session.scalars(select(Cancellation)).one().state == "done"
        assert [n.kind for n in uow.session.scalars(select(Notice).join(Notice.partner)
                                                    .where(Notice.kind == "order.cancellation")).unique()
                ] == ["order.cancellation"]  # only to the warehouse: the shop got the answer
    for side, n in ((shop, number), (dep, dep_no), (wh, wh_no)):
        await _all_final(side, n)


async def test_no_answer_from_the_warehouse_in_time_makes_a_follow_up(make_side):
    # the warehouse takes the message (200) but never answers
    quiet = await ScriptedPartner(secret=SECRET + "-whse").start()
    shop = await make_side("Shop", policy=PATIENT)
    dep = await make_side("Depot", policy=PATIENT)
    try:
        link(shop, dep, a_sees_b=dict(role="warehouse"), b_sees_a=dict(role="channel"), secret=SECRET + "-shop")
        add_partner(dep.depot, PartnerInput(name="Whse", role="warehouse", url=quiet.url, secret=SECRET + "-whse",
                                            answer_within_seconds=1))
        number = make_order(shop.depot)
        dispatch(shop.depot, number, "Depot")
        dep_no = (await eventually(lambda: order_row(dep.depot, partner_ref=number), what="Depot receives")).number
        dispatch(dep.depot, dep_no, "Whse")
        cancel(shop.depot, number, CancellationRequest(ReasonCode.CLIENT_CANCELLED))
        await eventually(lambda: "order.cancellation" in quiet.kinds(), what="the warehouse gets the cancellation")

        def chased() -> list[str]:
            with dep.depot.uow(write=False) as uow:
                return [f.text for f in uow.session.scalars(select(FollowUp)) if "has not answered" in f.text]

        (text,) = await eventually(chased, what="the follow-up chasing the warehouse")
        assert text == (f"Whse has not answered the cancellation of order {dep_no} within 1 second: "
                        "ask them whether it is done; Shop is waiting for our answer too.")
        # still waiting on both sides, and chased once only
        assert _state(dep, dep_no, "order.cancellation") == "sent"
        assert _state(shop, number, "order.cancellation") == "sent"
        await asyncio.sleep(0.3)  # a few relay cycles (0.05 s each): no second follow-up
        assert len(chased()) == 1
    finally:
        await quiet.stop()


async def _depot_with_shop_and_warehouse(make_side, *, pass_on: bool) -> tuple[ScriptedPartner, Side, Side, str, str]:
    shop = await ScriptedPartner(secret=SECRET + "-shop").start()
    dep = await make_side("Depot", policy=PATIENT)
    wh = await make_side("Whse", policy=PATIENT)
    add_partner(dep.depot, PartnerInput(name="Shop", role="channel", url=shop.url, secret=SECRET + "-shop",
                                        pass_cancellations=pass_on))
    link(dep, wh, a_sees_b=dict(role="warehouse"), b_sees_a=dict(role="client"), secret=SECRET + "-whse")
    receive(dep.depot, "Shop", {"id": "shop-1", "kind": "order.new", "order": "SH-1",
                                "lines": [{"article": "BOX-S", "quantity": 2}]})
    dep_no = order_row(dep.depot, partner_ref="SH-1").number
    dispatch(dep.depot, dep_no, "Whse")
    wh_no = (await eventually(lambda: order_row(wh.depot, partner_ref=dep_no), what="Whse receives")).number
    return shop, dep, wh, dep_no, wh_no


@pytest.mark.parametrize("pass_on", [False, True])
async def test_the_channel_hears_only_once_the_warehouse_accepted(make_side, pass_on):
    shop, dep, wh, dep_no, wh_no = await _depot_with_shop_and_warehouse(make_side, pass_on=pass_on)
    try:
        address = wh.relay.address
        await wh.relay.stop()
        cancel(dep.depot, dep_no, CancellationRequest(ReasonCode.DAMAGED))
        await eventually(lambda: _notices(dep, dep_no, "order.cancellation")[0].attempts >= 1,
                         what="the depot trying the warehouse")
        # nothing for the shop yet: no notice, no follow-up
        assert [n.partner_id for n in _notices(dep, dep_no, "order.cancellation")] == [
            _notices(dep, dep_no, "order.cancellation")[0].partner_id]
        assert "order.cancellation" not in shop.kinds()
        with dep.depot.uow(write=False) as uow:
            assert uow.session.scalars(select(FollowUp)).all() == []
        await _restart(wh, address)
        await eventually(lambda: order_row(dep.depot, number=dep_no).status == "cancelled", what="cancelled")
        with dep.depot.uow(write=False) as uow:
            texts = [f.text for f in uow.session.scalars(select(FollowUp))]
        if pass_on:
            arrival = await eventually(lambda: next((a for a in shop.arrivals if a.kind == "order.cancellation"), None),
                                       what="the shop to get the cancellation")
            assert arrival.body["your_ref"] == "SH-1" and arrival.body["lines"] == {"BOX-S": 2}
            assert arrival.body["cancellation"] and arrival.body["reason"] == "DAMAGED"
            assert texts == []
        else:
            assert texts == [f"Cancel order {dep_no} at Shop too."]
            assert "order.cancellation" not in shop.kinds()
        assert order_row(wh.depot, number=wh_no).status == "cancelled"
    finally:
        await shop.stop()


async def test_the_channel_hears_nothing_when_the_warehouse_refused(make_side):
    shop, dep, wh, dep_no, wh_no = await _depot_with_shop_and_warehouse(make_side, pass_on=True)
    try:
        set_status(wh.depot, wh_no, Status.ACCEPTED)
        await eventually(lambda: order_row(dep.depot, number=dep_no).status == "accepted", what="Accepted")
        address = wh.relay.address
        await wh.relay.stop()
        set_status(wh.depot, wh_no, Status.PICKED_UP)
        cancel(dep.depot, dep_no, CancellationRequest(ReasonCode.DAMAGED))
        await _restart(wh, address)
        row = await eventually(lambda: (r := order_row(dep.depot, number=dep_no)).cancellation_refused and r,
                               what="the refusal")
        assert row.lines == {"BOX-S": (2, 0)}
        await eventually(lambda: _state(dep, dep_no, "order.cancellation") == "acknowledged", what="answered")
        assert "order.cancellation" not in shop.kinds()
        with dep.depot.uow(write=False) as uow:
            texts = [f.text for f in uow.session.scalars(select(FollowUp))]
        assert not any("Shop" in t for t in texts)
        assert [k for k, p, _st in notice_states(dep.depot, dep_no) if p == "Shop"] == [
            "notice.answer", "order.status", "order.status"]  # its order's receipt, Accepted, Picked up
    finally:
        await shop.stop()


# --------------------------------------------------------------------------- item 9


async def test_two_depots_may_use_the_same_message_id(make_side):
    """Message ids are unique per partner: Alpha's and Charlie's messages with one id are two
    messages at Bravo, both applied, each answered."""
    a = await make_side("Alpha")
    b = await make_side("Bravo")
    c = await make_side("Charlie")
    link(a, b, a_sees_b=dict(role="subcontractor"), b_sees_a=dict(role="client"), secret=SECRET + "-ab")
    link(c, b, a_sees_b=dict(role="subcontractor"), b_sees_a=dict(role="client"), secret=SECRET + "-cb")
    na, nc = make_order(a.depot), make_order(c.depot)
    dispatch(a.depot, na, "Bravo")
    dispatch(c.depot, nc, "Bravo")
    # Charlie's notice gets the id Alpha's has (as two independent depots could)
    with a.depot.uow(write=False) as uow:
        shared = uow.session.scalars(select(Notice.id).where(Notice.kind == "order.new")).one()
    with c.depot.uow() as uow:
        n = uow.session.scalars(select(Notice).where(Notice.kind == "order.new")).unique().one()
        n.id = shared
        uow.commit()

    def sources() -> list[str]:
        with b.depot.uow(write=False) as uow:
            return sorted(o.source.name for o in uow.session.scalars(select(Order)).unique())

    assert await eventually(lambda: len(sources()) == 2 and sources(), what="both orders at Bravo") == [
        "Alpha", "Charlie"]
    with b.depot.uow(write=False) as uow:
        assert sorted(uow.session.scalars(select(ReceivedMessage.partner_id).where(ReceivedMessage.id == shared))) == [1, 2]
    await eventually(lambda: _state(a, na, "order.new") == "acknowledged", what="Alpha answered")
    await eventually(lambda: _state(c, nc, "order.new") == "acknowledged", what="Charlie answered")


async def test_the_digest_is_kept_in_the_messages_own_transaction(make_side, monkeypatch):
    """A replay (the id again, another body) is refused even when nothing runs after the
    commit: the digest is written with the message, not in a second transaction."""
    import json

    import aiohttp

    from dispatchdesk.link import endpoint
    from dispatchdesk.link.signing import sign
    from dispatchdesk.services import outbox

    # nothing that would run after the commit writes a digest
    monkeypatch.setattr(outbox, "note_received", lambda *a, **k: None)
    monkeypatch.setattr(endpoint, "note_received", lambda *a, **k: None, raising=False)
    b = await make_side("Bravo")
    add_partner(b.depot, PartnerInput(name="Alpha", role="client", secret=SECRET))
    msg = {"id": "m-1", "kind": "order.new", "order": "A-1", "lines": [{"article": "BOX", "quantity": 1}]}

    async def post(m: dict) -> tuple[int, dict]:
        body = json.dumps(m)
        async with aiohttp.ClientSession() as http, http.post(b.url, data=body, headers=sign(SECRET, m["id"], body)) as r:
            return r.status, await r.json()

    assert (await post(msg))[0] == 200
    with b.depot.uow(write=False) as uow:
        assert uow.session.scalars(select(ReceivedMessage)).one().result["digest"]
    status, answer = await post({**msg, "order": "A-2"})
    assert (status, answer["code"]) == (409, "replay")
    assert (await post(msg))[1]["duplicate"] is True


# --------------------------------------------------------------------------- item 6


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        self.messages.append(envelope.content)
        return "250 Message accepted for delivery"


async def test_api_window_then_email(make_side):
    """Seed 001's partner: cancellations by API in the first minutes, after that by e-mail, with
    the e-mail's follow-up to confirm."""
    from datetime import timedelta

    from aiosmtpd.controller import Controller
    from linkkit import free_port

    inbox = _Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    partner = await ScriptedPartner().start()
    a = await make_side("Alpha")
    try:
        set_setting(a.depot, "smtp_host", "127.0.0.1")
        set_setting(a.depot, "smtp_port", str(port))
        add_partner(a.depot, PartnerInput(name="Quickship", role="subcontractor", url=partner.url, secret=SECRET,
                                          email="desk@quickship.example", cancel_method="api-window-then-email",
                                          window_seconds=300))
        fresh, late = make_order(a.depot), make_order(a.depot)
        for n in (fresh, late):
            dispatch(a.depot, n, "Quickship")
        with a.depot.uow() as uow:  # `late` went out an hour ago: its window has passed
            o = uow.session.scalars(select(Order).where(Order.number == late)).unique().one()
            o.dispatched_at = a.depot.now() - timedelta(hours=1)
            uow.commit()
        cancel(a.depot, fresh, CancellationRequest(ReasonCode.CLIENT_CANCELLED))
        cancel(a.depot, late, CancellationRequest(ReasonCode.CLIENT_CANCELLED))
        await eventually(lambda: [x.body["order"] for x in partner.arrivals if x.kind == "order.cancellation"] == [fresh],
                         what="the fresh one's cancellation over the API")
        await eventually(lambda: len(inbox.messages) == 1, what="the late one's cancellation by e-mail")
        assert late.encode() in inbox.messages[0] and fresh.encode() not in inbox.messages[0]
        await eventually(lambda: [(x.transport, x.state) for x in _notices(a, late, "order.cancellation")]
                         == [("email", "sent")], what="the e-mail recorded as sent")
        assert [x.transport for x in _notices(a, fresh, "order.cancellation")] == ["http"]
        with a.depot.uow(write=False) as uow:
            texts = [f.text for f in uow.session.scalars(select(FollowUp))]
        assert texts == [f"Quickship's 5-minute API window had passed, so the cancellation of order {late} went "
                         "by e-mail: confirm with Quickship that it arrived."]
        assert order_row(a.depot, number=late).status == "cancelled"
        assert "order.cancellation" not in [x.kind for x in partner.arrivals if x.body.get("order") == late]
    finally:
        await partner.stop()
        smtp.stop()


def test_api_window_then_email_needs_a_window_and_an_address(tmp_path):
    from linkkit import open_depot

    from dispatchdesk.services import InvalidInput

    d = open_depot(tmp_path / "d.sqlite")
    try:
        with pytest.raises(InvalidInput, match="needs the partner's e-mail"):
            add_partner(d, PartnerInput(name="Q", role="subcontractor", cancel_method="api-window-then-email",
                                        window_seconds=60))
        with pytest.raises(InvalidInput, match="needs the window"):
            add_partner(d, PartnerInput(name="Q", role="subcontractor", cancel_method="api-window-then-email",
                                        email="q@example.org"))
    finally:
        d.close()


# --------------------------------------------------------------------------- item 5


async def test_auto_trash_agreed_on_one_side_only_does_not_act(make_side):
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor"),
                       b_sees_a=dict(role="client", auto_trash=True))
    number, theirs = await _send_to_b(a, b)
    # Bravo agrees and told Alpha so; Alpha does not agree
    await eventually(lambda: _partner(a, "Bravo").agreement.startswith("Bravo agrees"), what="Alpha hears Bravo")
    assert _partner(a, "Bravo").agreement == "Bravo agrees; off here (switch it on to agree)"
    assert _partner(b, "Alpha").agreement == "on here; Alpha has not agreed"
    assert _partner(b, "Alpha").revoked == "flagged for a dispatcher until they agree to auto-trash"
    cancel_shipment(a.depot, number)
    row = await eventually(lambda: (r := order_row(b.depot, number=theirs)).cancellation_requested and r,
                           what="Bravo flags it")
    assert row.status == "created"  # not trashed: only one side agreed


async def test_auto_trash_agreed_by_both_acts_and_both_screens_show_it(make_side):
    a, b = await _pair(make_side, a_sees_b=dict(role="subcontractor"),
                       b_sees_a=dict(role="client", auto_trash=True))
    number, theirs = await _send_to_b(a, b)
    # Alpha agrees later, on its Partners screen: its hello tells Bravo
    current = partner_input(a.depot, "Bravo")
    update_partner(a.depot, "Bravo", replace(current, auto_trash=True))
    pb = await eventually(lambda: (p := _partner(b, "Alpha")).auto_trash_agreed_at and p, what="Bravo agrees")
    pa = await eventually(lambda: (p := _partner(a, "Bravo")).auto_trash_agreed_at and p, what="Alpha agrees")
    for p in (pa, pb):
        assert p.agreement.startswith("agreed by both sides since ")
        assert p.auto_trash_agreed_at.strftime("%Y-%m-%d") in p.agreement
    assert pb.revoked == "cancelled here at once (auto-trash)"
    cancel_shipment(a.depot, number)
    await eventually(lambda: order_row(b.depot, number=theirs).status == "cancelled", what="Bravo auto-trashes it")
    await eventually(lambda: _state(a, number, "order.revoked") == "acknowledged", what="the revocation answered")
    # the hellos themselves reached a final state on both sides
    for side in (a, b):
        with side.depot.uow(write=False) as uow:
            states = list(uow.session.scalars(select(Notice.state).where(Notice.kind == "link.hello")))
        assert states and set(states) <= {"acknowledged", "withdrawn"}, states
    # and one side changing its mind ends the agreement on both
    current = partner_input(b.depot, "Alpha")
    update_partner(b.depot, "Alpha", replace(current, auto_trash=False))
    await eventually(lambda: _partner(a, "Bravo").auto_trash_agreed_at is None, what="Alpha hears Bravo's no")
    assert _partner(b, "Alpha").auto_trash_agreed_at is None
    assert _partner(a, "Bravo").agreement == "on here; Bravo has not agreed (it said no)"

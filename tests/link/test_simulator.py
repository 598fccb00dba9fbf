"""The demo simulator: the demo's partners answer like real ones, over signed HTTP on loopback."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from linkkit import FAST, eventually, free_port, make_order, notice_states, open_depot, order_row
from sqlalchemy import select

from dispatchdesk.demo import demo_partners
from dispatchdesk.link.relay import Relay
from dispatchdesk.link.simulator import DemoSimulator, SimulatorError, Timings
from dispatchdesk.services import (
    CancellationRequest,
    ReasonCode,
    add_partner,
    cancel,
    cancel_shipment,
    dispatch,
    set_setting,
    set_status,
)
from dispatchdesk.store.models import FollowUp

QUICK = Timings(answer=0.1, accept=0.2, picking=2.5, first_cancel_request=3600, cancel_request_every=3600)


@pytest.fixture
async def demo(tmp_path):
    port = free_port()
    depot = open_depot(tmp_path / "demo.sqlite", actor="newcomer")
    set_setting(depot, "undo_seconds", "1")
    set_setting(depot, "depot_name", "Demo Depot")
    names = {}
    for p in demo_partners():
        settings = p.settings
        if settings.url:
            settings = dataclasses.replace(settings, url=settings.url.replace(":8731/", f":{port}/"))
        names[p.slug] = add_partner(depot, settings)
    sim = DemoSimulator(depot, port=port, timings=QUICK, seed=1)
    await sim.start()
    relay = Relay(depot, policy=FAST, poll_interval=0.05, deadline=3)
    await relay.start()
    yield depot, sim, names
    await relay.stop()
    await sim.stop()
    depot.close()


def _states(depot, number, kind):
    return [s for k, _p, s in notice_states(depot, number) if k == kind]


async def test_a_newcomer_sees_held_queued_sent_acknowledged(demo):
    depot, sim, names = demo
    number = make_order(depot)
    dispatch(depot, number, names["northline"])
    await eventually(lambda: _states(depot, number, "order.new") == ["acknowledged"], what="the order acknowledged")
    await eventually(lambda: order_row(depot, number=number).status == "accepted", what="Northline accepts")
    cancel_shipment(depot, number)
    seen: list[str] = []

    def watch():
        [state] = _states(depot, number, "order.revoked")
        if not seen or seen[-1] != state:
            seen.append(state)
        return state == "acknowledged"

    await eventually(watch, interval=0.01, what="the revocation acknowledged")
    assert seen[0] == "held" and seen[-1] == "acknowledged"
    order = ["held", "queued", "sent", "acknowledged"]
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)
    assert any("accepted the revocation for order" in text for _, _, text in sim.log)


async def test_the_warehouse_refuses_a_cancellation_after_picking(demo):
    depot, sim, names = demo
    number = make_order(depot, source=names["shopwise"], ref="SW-1")
    dispatch(depot, number, names["eastgate"])
    await eventually(lambda: order_row(depot, number=number).status == "accepted", what="Eastgate accepts")
    await asyncio.sleep(QUICK.picking * 1.3)  # picking starts
    cancel(depot, number, CancellationRequest(ReasonCode.NOT_IN_STOCK, comment="Out of stock."))
    row = await eventually(lambda: (r := order_row(depot, number=number)).cancellation_refused and r,
                           what="the refusal")
    assert "Picking has started" in row.cancellation_refused and row.status == "accepted"
    with depot.uow(write=False) as uow:
        texts = [f.text for f in uow.session.scalars(select(FollowUp))]
    assert any("as a return" in t for t in texts)


async def test_the_warehouse_takes_a_cancellation_before_picking(demo):
    depot, sim, names = demo
    number = make_order(depot, source=names["shopwise"], ref="SW-2")
    dispatch(depot, number, names["eastgate"])
    await eventually(lambda: _states(depot, number, "order.new") == ["acknowledged"], what="acknowledged")
    cancel(depot, number, CancellationRequest(ReasonCode.NOT_IN_STOCK, comment="Out of stock."))
    await eventually(lambda: order_row(depot, number=number).status == "cancelled", what="cancelled")


async def test_a_channel_customer_asks_to_cancel(demo):
    depot, sim, names = demo
    untouched = make_order(depot, source=names["cornercrafts"], ref="CC-1")
    busy = make_order(depot, source=names["cornercrafts"], ref="CC-2")
    set_status(depot, busy, "accepted")
    asked = await sim.customer_cancels(created_first=True)
    assert asked == untouched
    await eventually(lambda: order_row(depot, number=untouched).status == "cancelled", what="cancelled at once")
    asked = await sim.customer_cancels(created_first=False)
    assert asked == busy
    row = await eventually(lambda: (r := order_row(depot, number=busy)).cancellation_requested and r, what="flag")
    assert row.status == "accepted"
    # the channel is told the first one was cancelled: our answer is delivered to it
    await eventually(lambda: _states(depot, untouched, "notice.answer") == ["acknowledged"] or
                     _states(depot, untouched, "notice.answer") == ["sent"], what="our answer delivered")


async def test_demo_email_goes_to_the_sink(demo):
    depot, sim, names = demo
    if sim._smtp_server is None:
        pytest.skip("the port next to the simulator's was taken")
    number = make_order(depot)
    dispatch(depot, number, names["parcelkeep"])
    await eventually(lambda: _states(depot, number, "order.new") == ["sent"], what="the e-mail sent")
    assert any(text == "an e-mail arrived" for _, _, text in sim.log)


async def test_a_busy_port_is_a_clear_error(tmp_path):
    depot = open_depot(tmp_path / "d.sqlite")
    first = DemoSimulator(depot, port=0, timings=QUICK, smtp=False)
    await first.start()
    second = DemoSimulator(depot, port=first.port, timings=QUICK, smtp=False)
    with pytest.raises(SimulatorError, match="another demo running"):
        await second.start()
    assert second.state == f"port {first.port} busy"
    await first.stop()
    depot.close()

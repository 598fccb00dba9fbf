"""Two demos on one machine (two consoles started with --demo) do not clash: each demo's
partners point at a free port of its own, where its own simulator answers them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

from linkkit import FAST, eventually, make_order, notice_states, open_depot

from dispatchdesk.demo import build_demo
from dispatchdesk.link.relay import Relay
from dispatchdesk.link.simulator import DemoSimulator, Timings
from dispatchdesk.services import Depot, dispatch, queries, set_setting

QUICK = Timings(answer=0.1, accept=0.2, picking=60, first_cancel_request=3600, cancel_request_every=3600)


def partner_ports(depot: Depot) -> set[int]:
    return {urlsplit(p.url).port or 0 for p in queries.partners(depot) if p.url}


async def test_two_demos_on_one_machine_each_get_their_own_port(tmp_path: Path) -> None:
    demos = [open_depot(tmp_path / f"demo{i}.sqlite", actor="newcomer") for i in (1, 2)]
    for d in demos:
        await asyncio.to_thread(build_demo, d)  # as `dispatchdesk --demo` does, twice
        set_setting(d, "undo_seconds", "1")
    ports = [partner_ports(d) for d in demos]
    assert all(len(p) == 1 for p in ports), ports
    assert ports[0] != ports[1], f"both demos' partners point at port {ports[0]}"

    sims = [DemoSimulator(d, timings=QUICK, seed=1) for d in demos]
    relays = [Relay(d, policy=FAST, poll_interval=0.05, deadline=3) for d in demos]
    try:
        for sim, relay in zip(sims, relays, strict=True):
            await sim.start()  # the second used to fail: "port 8731 busy"
            await relay.start()
        assert [{s.port} for s in sims] == ports
        numbers = []
        for d in demos:
            numbers.append(make_order(d))
            dispatch(d, numbers[-1], "Northline Haulage")
        for d, number in zip(demos, numbers, strict=True):
            await eventually(lambda d=d, number=number: [s for k, _p, s in notice_states(d, number)
                                                         if k == "order.new"] == ["acknowledged"],
                             timeout=30, what="each demo's notice acknowledged by its own simulator")
    finally:
        for sim, relay in zip(sims, relays, strict=True):
            await relay.stop()
            await sim.stop()
        for d in demos:
            d.close()

"""A relay worker records itself among the depot's consoles (kind "relay") while it runs, with
its worker id and endpoint, so that `doctor` can list the relay workers alive; it leaves when it
stops."""

from __future__ import annotations

import asyncio

from linkkit import eventually

from dispatchdesk.services import presence


async def test_a_running_relay_is_listed_as_a_relay_worker_and_leaves_on_stop(make_side):
    a = await make_side("Alpha")

    def listed() -> list[presence.ConsoleView]:
        return presence.present(a.depot, kind=presence.RELAY)

    await eventually(lambda: len(listed()) == 1, what="the relay to be listed")
    [worker] = listed()
    assert worker.id == a.relay.presence_id
    assert worker.detail == f"worker relay-Alpha; endpoint {a.relay.url}"
    assert presence.present(a.depot, kind=presence.CONSOLE) == []  # not a dispatcher
    await a.relay.stop()
    assert await asyncio.to_thread(listed) == []

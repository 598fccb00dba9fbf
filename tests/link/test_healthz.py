"""`/healthz` on a real relay listening on loopback: 200 with {ok, lag, schema} while the relay's
loop turns and the database answers; 503 with the reason when not; and a place kept over the
connection caps for the probe from this machine, so that a flood cannot fail it."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from dispatchdesk.link import relay as relay_module
from dispatchdesk.link.guard import Limits
from dispatchdesk.services import StorageError
from dispatchdesk.store import HEAD_REVISION
from helpers import wait_for


async def _get(url: str, method: str = "GET") -> tuple[int, dict]:
    """One request on a connection of its own (as a service manager's curl makes it)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http, \
            http.request(method, url) as resp:
        return resp.status, json.loads(await resp.text())


def _healthz(side) -> str:
    host, port = side.relay.address
    return f"http://127.0.0.1:{port}/healthz"


async def _answer(side, status: int) -> dict:
    """Ask /healthz until it answers `status` (the loop's first turn is a moment after start)."""
    seen: list[tuple[int, dict]] = []

    async def check() -> dict | None:
        seen.append(await _get(_healthz(side)))
        return seen[-1][1] if seen[-1][0] == status else None

    return await wait_for(None, check, f"/healthz to answer {status}")


async def test_a_live_relay_answers_200_with_its_lag_and_schema_and_nothing_else(make_side):
    side = await make_side("Alpha")
    body = await _answer(side, 200)
    assert body == {"ok": True, "lag": 0.0, "schema": HEAD_REVISION}


async def test_a_database_that_does_not_answer_gives_503_with_the_reason(make_side, monkeypatch):
    side = await make_side("Alpha", health_stale=0.5)
    await _answer(side, 200)

    def broken(_depot):
        raise StorageError("The database alpha.sqlite is locked by another program; nothing was changed.")

    monkeypatch.setattr(relay_module, "peek", broken)
    body = await _answer(side, 503)
    assert body["ok"] is False and body["schema"] == HEAD_REVISION
    assert body["reason"].startswith("the database has not answered for ")
    assert body["reason"].endswith(": The database alpha.sqlite is locked by another program; nothing was changed.")
    monkeypatch.undo()
    await _answer(side, 200)  # and it recovers by itself


async def test_a_relay_whose_loop_stopped_gives_503(make_side):
    side = await make_side("Alpha")
    await _answer(side, 200)
    side.relay._main.cancel()  # the loop dies; the endpoint (on the same event loop) still answers
    body = await _answer(side, 503)
    assert body == {"ok": False, "lag": 0.0, "schema": HEAD_REVISION, "reason": "the relay is not running"}


async def test_the_probe_from_this_machine_gets_in_when_the_caps_are_full(make_side):
    limits = Limits(header_seconds=60, idle_seconds=60, body_seconds=60, per_peer=2, total=12, probe_reserve=2)
    side = await make_side("Alpha", limits=limits)
    await _answer(side, 200)
    host, port = side.relay.address
    # this machine's own address holds all its places with connections that send nothing
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(limits.per_peer)]
    try:
        await wait_for(None, lambda: side.relay.site.open_connections == limits.per_peer, "the idle connections")
        status, body = await _get(_healthz(side))
        assert (status, body["ok"]) == (200, True)
        # a place kept for the probe takes nothing else
        status, body = await _get(f"http://127.0.0.1:{port}/link", "POST")
        assert status == 503 and "kept for the health check (GET /healthz) only" in body["error"]
        assert side.relay.site.open_connections == limits.per_peer
    finally:
        for _, w in idle:
            w.close()


async def test_doctor_sees_a_running_relay_alive_with_nothing_to_send(make_side):
    from dispatchdesk.services.health import examine

    side = await make_side("Alpha")
    path = str(side.depot.db.engine.url.database)

    def relay_seen() -> list[str]:
        report = examine(path)
        return report.relay.workers if report.relay is not None else []

    assert await wait_for(None, relay_seen, "the relay among the depot's consoles", in_thread=True) == ["relay-Alpha"]
    await side.relay.stop()
    assert await asyncio.to_thread(relay_seen) == []  # it said goodbye

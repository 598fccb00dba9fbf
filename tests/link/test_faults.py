"""The relay under faults: a partner down then up, 5xx, a partner that hangs or drips, 410,
a refusal, a repeat delivery, order kept while an earlier notice fails, and a relay process
killed with SIGKILL in the middle of a delivery, then restarted.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
from aiohttp import web
from linkkit import (
    SECRET,
    RetryPolicy,
    ScriptedPartner,
    count,
    eventually,
    free_port,
    link,
    make_order,
    notice_states,
    open_depot,
    order_row,
)
from sqlalchemy import select

from dispatchdesk.link.endpoint import make_app
from dispatchdesk.link.relay import Relay
from dispatchdesk.link.signing import sign
from dispatchdesk.services import (
    PartnerInput,
    add_partner,
    cancel_shipment,
    dispatch,
    set_setting,
)
from dispatchdesk.services.outbox import skip
from dispatchdesk.store.models import FollowUp, Notice, Order, Partner, ReceivedMessage

PATIENT = RetryPolicy(delays=(0.2,) * 40, jitter=0.0)


def _notices(d) -> list[dict]:
    with d.uow(write=False) as uow:
        return [
            {"id": n.id, "kind": n.kind, "state": n.state, "attempts": n.attempts, "last_error": n.last_error,
             "order": n.order.number if n.order else None, "partner": n.partner.name}
            for n in uow.session.scalars(select(Notice).order_by(Notice.created_at, Notice.seq)).unique()
        ]


def _partner(d, name) -> dict:
    with d.uow(write=False) as uow:
        p = uow.session.scalars(select(Partner).where(Partner.name == name)).one()
        return {"link_stopped": p.link_stopped, "last_error": p.last_error, "last_contact_at": p.last_contact_at}


async def _scripted(make_side, answer=None, **side_kw):
    partner = await ScriptedPartner(answer=answer).start()
    a = await make_side("Alpha", **side_kw)
    add_partner(a.depot, PartnerInput(name="Script", role="subcontractor", url=partner.url, secret=SECRET))
    return a, partner


async def test_a_partner_down_then_up_gets_every_notice(make_side):
    a = await make_side("Alpha", policy=PATIENT)
    b = await make_side("Bravo")
    link(a, b, a_sees_b=dict(role="subcontractor"), b_sees_a=dict(role="client"))
    host, port = b.relay.address
    await b.relay.stop()  # Bravo is down
    numbers = [make_order(a.depot) for _ in range(3)]
    for n in numbers:
        dispatch(a.depot, n, "Bravo")
    await eventually(lambda: all(x["attempts"] >= 2 for x in _notices(a.depot)), what="retries while down")
    assert all(x["state"] == "queued" and "Cannot connect" in x["last_error"] for x in _notices(a.depot))
    await eventually(lambda: a.relay.state == "partner Bravo down", what="the relay to say so")
    assert "Cannot connect" in (a.relay.problem or "")
    b.relay = Relay(b.depot, listen=f"{host}:{port}", worker_id="relay-Bravo-2", poll_interval=0.05)
    await b.relay.start()
    # sent, and (B being a dispatchdesk depot) acknowledged by its receipt soon after
    await eventually(lambda: all(x["state"] in ("sent", "acknowledged") for x in _notices(a.depot)),
                     what="all delivered once up")
    assert sorted(r.partner_ref for r in [order_row(b.depot, partner_ref=n) for n in numbers]) == sorted(numbers)
    await eventually(lambda: a.relay.state == "idle", what="the relay to be idle")
    assert _partner(a.depot, "Bravo")["last_contact_at"] is not None


async def test_5xx_are_retried_honouring_retry_after(make_side):
    def answer(arrival, n):
        if n == 1:
            return 503, {"Retry-After": "1"}, '{"error": "maintenance"}'
        if n == 2:
            return 500, {}, "boom"
        return 200, {}, "{}"

    a, partner = await _scripted(make_side, answer, policy=RetryPolicy(delays=(0.1, 0.1, 0.1), jitter=0.0))
    n = make_order(a.depot)
    dispatch(a.depot, n, "Script")
    await eventually(lambda: _notices(a.depot)[0]["state"] == "sent", what="sent after two 5xx")
    assert len(partner.arrivals) == 3
    first, second, third = partner.arrivals
    assert second.at - first.at >= 0.9  # the partner asked for 1 s
    assert {x.id for x in partner.arrivals} == {_notices(a.depot)[0]["id"]}  # one stable id
    assert partner.bad == []  # every attempt was signed, and verified
    assert _notices(a.depot)[0]["attempts"] == 3
    await partner.stop()


async def test_after_the_last_retry_the_notice_is_failed_not_dropped(make_side):
    a, partner = await _scripted(make_side, lambda a, n: (502, {}, "bad gateway"),
                                 policy=RetryPolicy(delays=(0.05, 0.05), jitter=0.0))
    n = make_order(a.depot)
    dispatch(a.depot, n, "Script")
    x = await eventually(lambda: (r := _notices(a.depot)[0])["state"] == "failed" and r, what="failed")
    assert x["attempts"] == 3 and "Gave up after 3 attempts" in x["last_error"] and "HTTP 502" in x["last_error"]
    assert len(partner.arrivals) == 3
    await eventually(lambda: a.relay.failed == 1, what="the relay to count it")
    await partner.stop()


async def test_a_partner_that_hangs_times_out_at_the_deadline(make_side):
    hung = asyncio.Event()

    async def answer(arrival, n):
        if n == 1:
            hung.set()
            await asyncio.sleep(30)
        return 200, {}, "{}"

    a, partner = await _scripted(make_side, answer, deadline=0.5, policy=RetryPolicy(delays=(0.1,), jitter=0.0))
    n = make_order(a.depot)
    dispatch(a.depot, n, "Script")
    await eventually(lambda: _notices(a.depot)[0]["state"] == "sent", what="sent on the second attempt")
    assert len(partner.arrivals) == 2
    with a.depot.uow(write=False) as uow:
        assert "within 0.5 s" in (uow.session.scalars(select(Partner).where(Partner.name == "Script")).one().last_error)
    await partner.stop()


async def test_a_partner_that_drips_its_answer_still_times_out(make_side):
    """The status line arrives one byte at a time, never finishing: the whole attempt has one
    deadline, not a per-read timeout."""
    started = []

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started.append(time.monotonic())
        try:
            await reader.readuntil(b"\r\n\r\n")
            for ch in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 1000:
                writer.write(bytes([ch]))
                await writer.drain()
                await asyncio.sleep(0.05)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(drip, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    a = await make_side("Alpha", deadline=0.6, policy=RetryPolicy(delays=(30,), jitter=0.0))
    add_partner(a.depot, PartnerInput(name="Drip", role="subcontractor", url=f"http://127.0.0.1:{port}/link",
                                      secret=SECRET))
    n = make_order(a.depot)
    dispatch(a.depot, n, "Drip")
    x = await eventually(lambda: (r := _notices(a.depot)[0])["attempts"] == 1 and r, what="one attempt recorded")
    assert x["state"] == "queued" and "No complete answer from Drip within 0.6 s" in x["last_error"]
    server.close()
    await server.wait_closed()


async def test_410_stops_the_link_and_raises_an_alert(make_side):
    a, partner = await _scripted(make_side, lambda a, n: (410, {}, '{"error": "This link is closed."}'),
                                 undo_seconds=60)
    n1, n2 = make_order(a.depot), make_order(a.depot)
    dispatch(a.depot, n1, "Script")
    x = await eventually(lambda: (r := _notices(a.depot)[0])["state"] == "failed" and r, what="failed")
    assert "410" in x["last_error"] and "This link is closed." in x["last_error"]
    p = _partner(a.depot, "Script")
    assert p["link_stopped"] and "Link stopped" in p["last_error"]
    # nothing more goes to them: a new notice is a follow-up from the start
    dispatch(a.depot, n2, "Script")
    assert [y["state"] for y in _notices(a.depot) if y["order"] == n2] == ["follow-up"]
    await asyncio.sleep(0.3)
    assert len(partner.arrivals) == 1
    with a.depot.uow(write=False) as uow:
        texts = [f.text for f in uow.session.scalars(select(FollowUp))]
    assert any("link to Script is stopped" in t for t in texts)
    await partner.stop()


async def test_a_refusal_fails_at_once_and_shows_the_answer_sanitised(make_side):
    hostile = json.dumps({"error": "Unknown route \x1b[2J\x1b]0;pwned\x07[@click=app.quit]x\u202e"})
    a, partner = await _scripted(make_side, lambda a, n: (422, {}, hostile))
    n = make_order(a.depot)
    dispatch(a.depot, n, "Script")
    x = await eventually(lambda: (r := _notices(a.depot)[0])["state"] == "failed" and r, what="failed")
    assert x["attempts"] == 1 and len(partner.arrivals) == 1
    assert x["last_error"].startswith("HTTP 422")
    assert "Unknown route" in x["last_error"] and "[@click=app.quit]x" in x["last_error"]
    assert not any(c in x["last_error"] for c in "\x1b\x07\u202e")
    await partner.stop()


async def test_order_is_kept_while_an_earlier_notice_fails(make_side):
    """The order.new of one order keeps failing: its revocation waits behind it; another order's
    notice to the same partner goes at once; skipping the failed one lets the revocation go."""
    first_fails = {"on": True}

    def answer(arrival, n):
        if arrival.kind == "order.new" and arrival.body["order"] == held_back[0] and first_fails["on"]:
            return 500, {}, "down for that order"
        return 200, {}, "{}"

    held_back: list[str] = []
    a, partner = await _scripted(make_side, answer, policy=RetryPolicy(delays=(0.1, 0.1, 0.1), jitter=0.0))
    n1, n2 = make_order(a.depot), make_order(a.depot)
    held_back.append(n1)
    dispatch(a.depot, n1, "Script")
    cancel_shipment(a.depot, n1)  # a revocation behind the failing order.new
    dispatch(a.depot, n2, "Script")
    await eventually(lambda: ("order.new", n2) in [(x.kind, x.body["order"]) for x in partner.arrivals],
                     what="the other order's notice")
    await eventually(lambda: [x["state"] for x in _notices(a.depot) if x["order"] == n1] == ["failed", "queued"],
                     what="the first to fail, the second to wait")
    await asyncio.sleep(0.3)
    assert "order.revoked" not in partner.kinds()
    failed = next(x for x in _notices(a.depot) if x["order"] == n1 and x["kind"] == "order.new")
    skip(a.depot, failed["id"])
    await eventually(lambda: "order.revoked" in partner.kinds(), what="the revocation after the skip")
    # the relay records the delivery a moment after the partner has it
    await eventually(lambda: [x["state"] for x in _notices(a.depot) if x["order"] == n1] == ["skipped", "sent"],
                     what="the revocation recorded as sent")
    await partner.stop()


async def test_a_repeat_delivery_is_applied_once(make_side):
    a = await make_side("Alpha")
    b = await make_side("Bravo")
    link(a, b, a_sees_b=dict(role="subcontractor"), b_sees_a=dict(role="client"))
    number = make_order(a.depot)
    dispatch(a.depot, number, "Bravo")
    await eventually(lambda: order_row(b.depot, partner_ref=number), what="the first delivery")
    nid = _notices(a.depot)[0]["id"]
    with a.depot.uow(write=False) as uow:
        n = uow.session.get(Notice, nid)
        body = json.dumps({**n.payload, "id": n.id, "kind": n.kind})
    async with aiohttp.ClientSession() as http:
        for _ in range(2):  # the same message again (re-encoded), signed afresh as a retry would be
            async with http.post(b.url, data=body, headers=sign(SECRET, nid, body)) as resp:
                assert resp.status == 200
                answer = await resp.json()
                assert answer["duplicate"] is True
    assert count(b.depot, Order) == 1 and count(b.depot, ReceivedMessage) == 1


_RELAY_SCRIPT = """
import sys
from dispatchdesk.link.relay import run_relay
from dispatchdesk.services import Depot
from dispatchdesk.services.outbox import RetryPolicy
run_relay(Depot.open(sys.argv[1], actor="relay"), None, worker_id=sys.argv[2], lease_seconds=2.0, deadline=1.5,
          concurrency=2, poll_interval=0.05, policy=RetryPolicy(delays=(0.2,) * 20, jitter=0.0))
"""


def _relay_process(db: Path, worker: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _RELAY_SCRIPT, str(db), worker],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def test_sigkill_of_the_relay_mid_delivery_then_restart_delivers_everything_once(tmp_path):
    """B applies each message, then waits before answering: the relay is killed in that gap, so
    some notices reached B without A knowing. After a restart every notice arrives, B applies
    each exactly once, and A marks every one sent."""
    a = open_depot(tmp_path / "a.sqlite")
    b = open_depot(tmp_path / "b.sqlite")
    set_setting(a, "undo_seconds", "0")
    arrivals: Counter[str] = Counter()
    answered_late = asyncio.Event()

    @web.middleware
    async def slow(request, handler):
        arrivals[request.headers.get("webhook-id", "")] += 1
        resp = await handler(request)
        answered_late.set()
        await asyncio.sleep(0.3)  # applied and committed, not answered yet
        return resp

    app = make_app(b)
    app.middlewares.append(slow)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    add_partner(a, PartnerInput(name="Bravo", role="subcontractor", url=f"http://127.0.0.1:{port}/link", secret=SECRET))
    add_partner(b, PartnerInput(name="Alpha", role="client", url="http://127.0.0.1:9/link", secret=SECRET))
    numbers = [make_order(a) for _ in range(12)]
    for n in numbers:
        dispatch(a, n, "Bravo")

    proc = _relay_process(tmp_path / "a.sqlite", "first")
    try:
        await eventually(lambda: count(b, ReceivedMessage) >= 4, timeout=30, what="some deliveries")
        answered_late.clear()
        await asyncio.wait_for(answered_late.wait(), timeout=10)  # one is applied, its answer pending
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)
    finally:
        if proc.poll() is None:
            proc.kill()
    applied_before = count(b, ReceivedMessage)
    assert 4 <= applied_before < len(numbers), "the relay must be killed in the middle"
    states = Counter(x["state"] for x in _notices(a))
    assert states["queued"] >= len(numbers) - applied_before + 1  # at least one applied but not recorded

    proc = _relay_process(tmp_path / "a.sqlite", "second")
    try:
        await eventually(lambda: all(x["state"] == "sent" for x in _notices(a)), timeout=60,
                         what="every notice sent after the restart")
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.to_thread(proc.wait, 15)
        out = proc.stdout.read().decode()
        assert rc == 0, out
        assert "relay second stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
    assert count(b, ReceivedMessage) == len(numbers)
    with b.uow(write=False) as uow:
        refs = sorted(uow.session.scalars(select(Order.partner_ref)))
    assert refs == sorted(numbers)  # each applied once: one order per notice
    assert max(arrivals.values()) >= 2  # and at least one really was delivered twice
    await runner.cleanup()
    a.close()
    b.close()


async def test_notice_states_helper_sees_every_notice(make_side):
    a = await make_side("Alpha")
    assert notice_states(a.depot) == []


async def test_stopping_gives_back_the_claims_it_did_not_finish(make_side):
    """A relay that stops (the console quits) hands its unsent claims back at once, so another
    relay need not wait for the lease to run out."""
    async def hang(arrival, n):
        await asyncio.sleep(30)
        return 200, {}, "{}"

    a, partner = await _scripted(make_side, hang, concurrency=1, batch=4, grace=0.2)
    for _ in range(4):
        dispatch(a.depot, make_order(a.depot), "Script")

    def claimed():
        with a.depot.uow(write=False) as uow:
            return [n.claimed_by for n in uow.session.scalars(select(Notice)).unique()]

    await eventually(lambda: claimed() == ["relay-Alpha"] * 4, what="four claims, one attempt hanging")
    assert len(partner.arrivals) == 1
    await a.relay.stop()
    assert claimed() == [None] * 4
    assert {x["state"] for x in _notices(a.depot)} == {"queued"}
    await partner.stop()

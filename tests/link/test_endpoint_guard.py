"""The link endpoint under attack (issue 10, item 5): read deadlines for headers and body, caps on
connections per address and in all, valid partners served during a flood, and repeated
warnings logged once per interval. Loopback only; every attack is small and bounded in time
(the deadlines are shortened for the test).

The attackers connect from 127.0.0.2-127.0.0.9 (all loopback on Linux), the valid partner
from 127.0.0.1, so that the per-address cap tells them apart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import aiohttp
import pytest
from linkkit import SECRET

from dispatchdesk.link.guard import Limits, RepeatFilter
from dispatchdesk.link.signing import sign
from dispatchdesk.services import PartnerInput, add_partner

SHORT = Limits(header_seconds=0.5, idle_seconds=0.5, body_seconds=0.5, per_peer=4, total=12,
               log_interval=60)
#: long deadlines, so that only the caps can close a connection during the test
CAPS = Limits(header_seconds=60, idle_seconds=60, body_seconds=60, per_peer=4, total=12, log_interval=60)
#: how long a test waits for the server to close a connection before calling it a failure
#: (a bound for the test, not a timing assertion: the deadlines above are 0.5 s)
PATIENCE = 8.0


@pytest.fixture
async def side(make_side):
    if not _other_loopback_addresses():
        pytest.skip("this system has no loopback addresses besides 127.0.0.1 to attack from")
    s = await make_side("Bravo", limits=SHORT)
    add_partner(s.depot, PartnerInput(name="Alpha", role="client", url="http://127.0.0.1:9/link", secret=SECRET))
    return s


def _other_loopback_addresses() -> bool:
    import socket

    try:
        with socket.socket() as s:
            s.bind(("127.0.0.9", 0))
        return True
    except OSError:
        return False


@pytest.fixture
async def caps_side(make_side):
    if not _other_loopback_addresses():  # Linux routes all of 127/8 to lo; macOS only 127.0.0.1
        pytest.skip("this system has no loopback addresses besides 127.0.0.1 to attack from")
    s = await make_side("Charlie", limits=CAPS)
    add_partner(s.depot, PartnerInput(name="Alpha", role="client", url="http://127.0.0.1:9/link", secret=SECRET))
    return s


def _port(side) -> int:
    return side.relay.address[1]


async def _connect(side, source: str = "127.0.0.2") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", _port(side), local_addr=(source, 0))


async def _closed_by_server(reader: asyncio.StreamReader, *, drip: asyncio.StreamWriter | None = None) -> bool:
    """True when the server closes the connection within PATIENCE seconds; `drip` sends a header
    byte every 0.1 s meanwhile (slowloris)."""

    async def read_to_end() -> None:
        try:
            while await reader.read(4096):
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass

    async def dripping() -> None:
        assert drip is not None
        try:
            while True:
                drip.write(b"X-a: b\r\n")
                await drip.drain()
                await asyncio.sleep(0.1)
        except (ConnectionResetError, BrokenPipeError):
            pass

    dripper = asyncio.create_task(dripping()) if drip is not None else None
    try:
        await asyncio.wait_for(read_to_end(), PATIENCE)
        return True
    except TimeoutError:
        return False
    finally:
        if dripper is not None:
            dripper.cancel()
            await asyncio.gather(dripper, return_exceptions=True)


async def _valid_request(side, ref: str) -> int:
    msg = {"id": str(uuid.uuid4()), "kind": "order.new", "order": ref, "pickup_address": "1 Mill Lane, Leeds",
           "delivery_address": "2 Quay Side, Hull", "lines": [{"article": "BOX", "quantity": 2}]}
    body = json.dumps(msg)
    headers = sign(SECRET, msg["id"], body)
    async with aiohttp.ClientSession() as http, http.post(side.relay.url, data=body, headers=headers) as resp:
        await resp.read()
        return resp.status


def _close_all(writers) -> None:
    for w in writers:
        w.close()


async def test_slowloris_headers_are_cut_off_at_the_header_deadline(side):
    reader, writer = await _connect(side)
    writer.write(b"POST /link HTTP/1.1\r\nHost: x\r\n")
    try:
        assert await _closed_by_server(reader, drip=writer), "a connection dripping header lines was kept open"
    finally:
        writer.close()


async def test_a_connection_that_sends_nothing_is_closed(side):
    reader, writer = await _connect(side)
    try:
        assert await _closed_by_server(reader), "an idle connection with no request was kept open"
    finally:
        writer.close()


async def test_a_body_shorter_than_its_content_length_is_cut_off(side):
    reader, writer = await _connect(side)
    writer.write(b"POST /link HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
    await writer.drain()
    try:
        assert await _closed_by_server(reader), "a request missing most of its body was held open"
    finally:
        writer.close()
    assert side.relay.address is not None
    assert await _valid_request(side, "A-after-body") == 200


async def _closed_now(reader: asyncio.StreamReader) -> bool:
    """True if the server has closed the connection (nothing is sent on these, so an answer is an
    end-of-file or a reset)."""
    try:
        return await asyncio.wait_for(reader.read(1), 0.2) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


async def test_one_address_gets_at_most_its_share_and_partners_are_still_served(caps_side):
    side = caps_side
    conns = [await _connect(side, "127.0.0.2") for _ in range(CAPS.per_peer * 3)]
    try:
        # the connections over the cap are reset at once (the deadlines are a minute away)
        for reader, _ in conns[CAPS.per_peer:]:
            assert await _closed_by_server(reader), "a connection over the per-address cap was kept"
        assert not any([await _closed_now(r) for r, _ in conns[:CAPS.per_peer]])
        assert side.relay.site.open_connections == CAPS.per_peer
        assert await _valid_request(side, "A-peer-cap") == 200
    finally:
        _close_all(w for _, w in conns)


async def test_a_flood_from_many_addresses_cannot_lock_a_partner_out(caps_side):
    side = caps_side
    sources = [f"127.0.0.{i}" for i in range(2, 10)]  # 8 addresses x 4 = 32 connections, 12 allowed
    conns = [await _connect(side, src) for src in sources for _ in range(CAPS.per_peer)]
    try:
        for i in range(5):  # each valid request gets a place: an idle flood connection gives way
            assert await _valid_request(side, f"A-flood-{i}") == 200
        closed = [await _closed_now(r) for r, _ in conns]
        assert sum(closed) >= len(conns) - CAPS.total
        assert side.relay.site.open_connections <= CAPS.total
    finally:
        _close_all(w for _, w in conns)


async def test_refusals_in_a_flood_are_logged_once_per_interval(caps_side, caplog):
    side = caps_side
    caplog.set_level(logging.WARNING, logger="dispatchdesk.link.guard")
    conns = [await _connect(side, "127.0.0.3") for _ in range(CAPS.per_peer + 40)]
    try:
        for reader, _ in conns[CAPS.per_peer:]:
            assert await _closed_by_server(reader)
    finally:
        _close_all(w for _, w in conns)
    refusals = [r for r in caplog.records if "refused a connection" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]


def test_the_repeat_filter_lets_one_through_per_interval_and_counts_the_rest():
    now = [0.0]
    f = RepeatFilter(60, clock=lambda: now[0])

    def record(msg: str, *args, exc: BaseException | None = None) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, args,
                                 (type(exc), exc, None) if exc else None)

    emfile = OSError(24, "Too many open files")
    passed = [f.filter(r) for r in (record("socket.accept() out of system resource\nsocket: <fd=5>", exc=emfile)
                                     for _ in range(1000))]
    assert passed.count(True) == 1
    assert f.filter(record("something else")) is True
    now[0] = 61.0
    later = record("socket.accept() out of system resource\nsocket: <fd=5>", exc=emfile)
    assert f.filter(later) is True
    assert "and 999 more like it" in later.getMessage()
    assert later.exc_info is None  # the traceback was written the first time
    info = logging.LogRecord("asyncio", logging.INFO, __file__, 1, "x", None, None)
    assert all(f.filter(info) for _ in range(3))


async def test_accept_errors_from_the_event_loop_are_logged_once_per_interval(caps_side, caplog):
    """What asyncio logs for each failed accept() when file descriptors run out (EMFILE): while the
    endpoint listens, the same error comes out once a minute, not once per connection."""
    caplog.set_level(logging.ERROR, logger="asyncio")
    loop = asyncio.get_running_loop()
    for _ in range(200):
        loop.call_exception_handler({"message": "socket.accept() out of system resource",
                                     "exception": OSError(24, "Too many open files")})
    lines = [r for r in caplog.records if r.name == "asyncio" and "out of system resource" in r.getMessage()]
    assert len(lines) == 1


async def test_stopping_the_relay_closes_the_connections_that_never_sent_a_byte(caps_side):
    reader, writer = await _connect(caps_side)
    try:
        await asyncio.sleep(0.1)  # accepted
        assert caps_side.relay.site.open_connections == 1
        await caps_side.relay.stop()
        assert await _closed_by_server(reader)
    finally:
        writer.close()

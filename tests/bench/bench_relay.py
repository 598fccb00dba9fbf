"""Relay benchmark: drain 10,000 queued notices to a local endpoint, and time commit → first attempt.

    .venv/bin/python tests/bench/bench_relay.py [--notices 10000] [--db sqlite|postgresql+psycopg://...]

Figures, all measured in this run:
- throughput of the relay draining N queued notices (signed JSON POSTs, each result recorded in
  the database), as a ratio to a bare aiohttp POST loop (one POST after another, no database,
  no signature) to the same endpoint. Target: at least 0.5x.
- for information, the same bare POSTs 32 at a time.
- commit → first attempt: notices committed one action at a time (dispatch) while the relay
  runs; the endpoint notes when each notice id first arrives. Target: p50 < 1 s, p99 < 5 s.

The endpoint is a plain aiohttp server in its own process (answers 200, remembers first arrival
times). Nothing here is asserted; the figures are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import func, insert, select

from dispatchdesk.link.relay import Relay
from dispatchdesk.services import (
    Depot,
    LineInput,
    OrderInput,
    PartnerInput,
    add_partner,
    create_order,
    dispatch,
    set_setting,
)
from dispatchdesk.store import Database
from dispatchdesk.store.models import Notice, Order, Partner

SECRET = "bench-relay-shared-secret-0001"
PER_ORDER = 4  # notices per order in the drain: they must go out one after the other


# --------------------------------------------------------------------------- the endpoint process


def _serve(port: int, ready: mp.Event) -> None:  # type: ignore[valid-type]
    first: dict[str, float] = {}

    async def link(request: web.Request) -> web.Response:
        await request.read()
        mid = request.headers.get("webhook-id")
        if mid and mid not in first:
            first[mid] = time.time()
        return web.Response(text='{"ok":true}', content_type="application/json")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(first)

    async def reset(request: web.Request) -> web.Response:
        first.clear()
        return web.json_response({})

    app = web.Application(client_max_size=2 * 1024 * 1024)
    app.router.add_post("/link", link)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    try:
        import uvloop  # type: ignore[import-not-found]  # noqa: F401 - not required
    except ImportError:
        pass
    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- the figures


def sample_body() -> str:
    return json.dumps({
        "id": str(uuid.uuid4()), "kind": "order.new", "order": "DD-000001", "status": "dispatched",
        "pickup_address": "Acme Ltd, 12 Mill Lane, Leeds LS1 2AB", "delivery_address": "J. Patel, 4 Quay Side, Hull HU1 3CD",
        "pickup_after": None, "deliver_by": None, "parcels": 3, "weight_kg": 12.5,
        "lines": [{"article": "BOX-S", "description": "Small box", "quantity": 2}],
    })


async def bare_loop(url: str, n: int, concurrency: int = 1) -> float:
    """Seconds for n plain POSTs of a notice-sized body, `concurrency` at a time."""
    body = sample_body().encode()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(concurrency, 1))) as http:
        async def one() -> None:
            async with http.post(url, data=body, headers={"content-type": "application/json",
                                                          "webhook-id": str(uuid.uuid4())}) as r:
                await r.read()
                assert r.status == 200

        for _ in range(20):  # warm up the connection
            await one()
        t0 = time.perf_counter()
        if concurrency == 1:
            for _ in range(n):
                await one()
        else:
            sem = asyncio.Semaphore(concurrency)

            async def limited() -> None:
                async with sem:
                    await one()

            await asyncio.gather(*(limited() for _ in range(n)))
        return time.perf_counter() - t0


def fill_queue(depot: Depot, partner: str, n: int) -> None:
    """N queued notices, PER_ORDER per order, written straight into the tables (fast set-up)."""
    now = datetime.now(UTC)
    orders = max(1, n // PER_ORDER)
    with depot.uow() as uow:
        s = uow.session
        pid = s.scalar(select(Partner.id).where(Partner.name == partner))
        s.execute(insert(Order), [
            {"number": f"B-{i:07d}", "status": "dispatched", "assignee_id": pid, "created_at": now,
             "status_changed_at": now, "version": 1, "pickup_address": "1 Mill Lane, Leeds",
             "delivery_address": "2 Quay Side, Hull", "parcels": 1, "weight_kg": 1.0}
            for i in range(orders)
        ])
        ids = dict(s.execute(select(Order.number, Order.id)).all())
        rows = []
        for k in range(n):
            i, seq = k % orders, k // orders + 1
            number = f"B-{i:07d}"
            rows.append({"id": str(uuid.uuid4()), "order_id": ids[number], "partner_id": pid,
                         "kind": "order.status", "transport": "http", "state": "queued", "seq": seq,
                         "attempts": 0, "created_at": now, "next_attempt_at": now, "awaits_answer": False,
                         "payload": {"order": number, "status": "dispatched", "note": "x" * 200}})
        for i in range(0, len(rows), 2000):
            s.execute(insert(Notice), rows[i:i + 2000])
        uow.commit()


def count_state(depot: Depot, state: str) -> int:
    with depot.uow(write=False) as uow:
        return uow.session.scalar(select(func.count()).select_from(Notice).where(Notice.state == state)) or 0


async def drain(depot: Depot, n: int, concurrency: int) -> tuple[float, Relay]:
    relay = Relay(depot, concurrency=concurrency, poll_interval=0.05, worker_id="bench")
    t0 = time.perf_counter()
    await relay.start()
    while True:
        await asyncio.sleep(0.05)
        if relay.stats.sent >= n:
            break
    elapsed = time.perf_counter() - t0
    await relay.stop()
    return elapsed, relay


async def latency(depot: Depot, url_base: str, partner: str, count: int, rate: float, concurrency: int) -> list[float]:
    """Commit `count` dispatches at `rate` per second while the relay runs; seconds from each
    commit to the notice's first arrival at the endpoint."""
    numbers = [create_order(depot, OrderInput("1 Mill Lane, Leeds", "2 Quay Side, Hull",
                                              [LineInput("BOX", 1)])) for _ in range(count)]
    async with aiohttp.ClientSession() as http:
        async with http.post(url_base + "/reset"):
            pass
    relay = Relay(depot, concurrency=concurrency, poll_interval=0.05, worker_id="bench-latency")
    await relay.start()
    committed: dict[str, float] = {}

    def load() -> None:
        t_next = time.time()
        for n in numbers:
            res = dispatch(depot, n, partner)
            committed[res.notices[0]] = time.time()
            t_next += 1 / rate
            pause = t_next - time.time()
            if pause > 0:
                time.sleep(pause)

    await asyncio.to_thread(load)
    while relay.stats.sent < count:
        await asyncio.sleep(0.05)
    await relay.stop()
    async with aiohttp.ClientSession() as http:
        async with http.get(url_base + "/stats") as r:
            first = await r.json()
    return [first[nid] - t for nid, t in committed.items()]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def main_async(args: argparse.Namespace) -> None:
    port = free_port()
    ready = mp.Event()
    proc = mp.Process(target=_serve, args=(port, ready), daemon=True)
    proc.start()
    if not ready.wait(20):
        raise SystemExit("the endpoint process did not start")
    url_base = f"http://127.0.0.1:{port}"
    url = url_base + "/link"
    tmp = tempfile.mkdtemp(prefix="bench-relay-")
    db = args.db if "://" in args.db else str(Path(tmp) / "bench.sqlite")
    depot = Depot(Database.open(db), actor="bench")
    try:
        set_setting(depot, "undo_seconds", "0")
        add_partner(depot, PartnerInput(name="Endpoint", role="subcontractor", url=url, secret=SECRET))

        # the baseline is measured before and after the drain, and averaged: the machine's load
        # may change during the run
        base_n = min(args.notices, 3000)
        t_seq1 = await bare_loop(url, base_n, 1)
        t_par = await bare_loop(url, base_n, args.concurrency)

        fill_queue(depot, "Endpoint", args.notices)
        assert count_state(depot, "queued") == args.notices
        elapsed, relay = await drain(depot, args.notices, args.concurrency)
        assert count_state(depot, "sent") == args.notices, "every notice sent"
        relay_rate = args.notices / elapsed
        t_seq2 = await bare_loop(url, base_n, 1)
        t_seq = (t_seq1 + t_seq2) / 2
        base_rate = base_n / t_seq
        par_rate = base_n / t_par

        lat = await latency(depot, url_base, "Endpoint", args.latency_count, args.latency_rate, args.concurrency)

        print(f"relay benchmark ({'SQLite' if db.endswith('.sqlite') else 'PostgreSQL'}, {os.cpu_count()} CPUs, "
              f"Python {sys.version.split()[0]})")
        print(f"  bare aiohttp POST loop (one at a time): {base_rate:8.0f} POST/s  ({base_n} in {t_seq1:.2f} s "
              f"before the drain, {t_seq2:.2f} s after)")
        print(f"  bare aiohttp POSTs, {args.concurrency} at a time:    {par_rate:8.0f} POST/s  (for information)")
        print(f"  relay drain of {args.notices} queued notices:  {relay_rate:8.0f} notices/s  ({elapsed:.2f} s, "
              f"{PER_ORDER} per order in sequence, concurrency {args.concurrency})")
        print(f"  throughput ratio relay / bare loop:     {relay_rate / base_rate:8.2f}x  (target >= 0.5x)")
        print(f"  throughput ratio relay / bare {args.concurrency} at a time: {relay_rate / par_rate:5.2f}x  (for information)")
        print(f"  commit -> first attempt, {len(lat)} dispatches at {args.latency_rate:g}/s: "
              f"p50 {pct(lat, 50) * 1000:.0f} ms, p99 {pct(lat, 99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms "
              f"(target p50 < 1000 ms, p99 < 5000 ms)")
    finally:
        depot.close()
        proc.terminate()
        proc.join(5)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--notices", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--latency-count", type=int, default=300)
    p.add_argument("--latency-rate", type=float, default=30.0, help="dispatches per second")
    p.add_argument("--db", default="sqlite", help="'sqlite' (a temporary file) or a database URL")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()

"""Flood benchmark: the link endpoint keeps serving a valid partner under slowloris and a connection flood.

    .venv/bin/python tests/bench/bench_flood.py [--seconds 20] [--slowloris 300] [--flood 3000]

The endpoint (a relay with --listen, its default deadlines and caps, logging at INFO to a file
as `dispatchdesk relay` does) runs in its own process on 127.0.0.1. This process is the valid
partner (signed order.new messages, one after another, from 127.0.0.1) and the attackers
(from 127.0.0.2-127.0.0.99, all loopback):

- slowloris: connections that send a request line and then one header line every second;
- short bodies: a Content-Length of 100,000 and 10 bytes sent, then nothing;
- connection flood: connections opened as fast as they can be and never used, each reopened
  when the endpoint closes it.

Figures: the valid partner's p50/p99 without the flood (the baseline) and during it, how many
of its requests failed, and the bytes the endpoint's log grew by during the flood.
Targets: every valid request answered 200, and p99 during the flood at most 10x the baseline.
Everything is bounded: the flood stops after --seconds, at most --slowloris + --flood
connections are held at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

SECRET = "bench-flood-shared-secret-0001"


def _serve(path: str, port: int, log_path: str, ready: mp.Event) -> None:  # type: ignore[valid-type]
    import logging

    logging.basicConfig(filename=log_path, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from dispatchdesk.link.relay import Relay
    from dispatchdesk.services import Depot, PartnerInput, add_partner
    from dispatchdesk.store import Database

    depot = Depot(Database.open(path, create=True), actor="bench")
    # no URL: the answers to its orders are not sent anywhere (they would fill the log)
    add_partner(depot, PartnerInput(name="Alpha", role="client", secret=SECRET))

    async def main() -> None:
        relay = Relay(depot, listen=f"127.0.0.1:{port}")
        await relay.start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def partner(url: str, n: int | None, stop: asyncio.Event | None) -> tuple[list[float], list[str]]:
    """Signed order.new messages one after another; the seconds each took, and the failures."""
    from dispatchdesk.link.signing import sign

    times: list[float] = []
    failures: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        i = 0
        while (n is None or i < n) and not (stop is not None and stop.is_set()):
            i += 1
            msg = {"id": str(uuid.uuid4()), "kind": "order.new", "order": f"B-{uuid.uuid4().hex[:10]}",
                   "pickup_address": "1 Mill Lane, Leeds", "delivery_address": "2 Quay Side, Hull",
                   "lines": [{"article": "BOX", "quantity": 1}]}
            body = json.dumps(msg)
            t0 = time.perf_counter()
            try:
                async with http.post(url, data=body, headers=sign(SECRET, msg["id"], body)) as r:
                    await r.read()
                    if r.status != 200:
                        failures.append(f"HTTP {r.status}")
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                failures.append(f"{type(e).__name__}: {e}")
            times.append(time.perf_counter() - t0)
            await asyncio.sleep(0.01)
    return times, failures


async def _open(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    try:
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 5)
    except (OSError, TimeoutError):
        return None


async def slowloris(port: int, source: str, stop: asyncio.Event, stats: dict[str, int]) -> None:
    while not stop.is_set():
        c = await _open(port, source)
        if c is None:
            await asyncio.sleep(0.2)
            continue
        _, w = c
        stats["opened"] += 1
        try:
            w.write(b"POST /link HTTP/1.1\r\nHost: depot\r\n")
            while not stop.is_set():
                await asyncio.sleep(1.0)
                w.write(b"X-Slow: 1\r\n")
                await w.drain()
        except (ConnectionError, OSError):
            stats["cut"] += 1
        finally:
            w.close()


async def short_body(port: int, source: str, stop: asyncio.Event, stats: dict[str, int]) -> None:
    while not stop.is_set():
        c = await _open(port, source)
        if c is None:
            await asyncio.sleep(0.2)
            continue
        r, w = c
        stats["opened"] += 1
        try:
            w.write(b"POST /link HTTP/1.1\r\nHost: depot\r\nContent-Length: 100000\r\n\r\n0123456789")
            await w.drain()
            while not stop.is_set() and await r.read(4096):
                pass
            stats["cut"] += 1
        except (ConnectionError, OSError):
            stats["cut"] += 1
        finally:
            w.close()


async def idle_flood(port: int, source: str, stop: asyncio.Event, stats: dict[str, int]) -> None:
    """Open a connection, send nothing, wait for the endpoint to close it, open the next."""
    while not stop.is_set():
        c = await _open(port, source)
        if c is None:
            await asyncio.sleep(0.05)
            continue
        r, w = c
        stats["opened"] += 1
        try:
            read = asyncio.ensure_future(r.read(1))
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({read, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if read.done():
                stats["cut"] += 1
            else:
                read.cancel()
            stopped.cancel()
        except (ConnectionError, OSError):
            stats["cut"] += 1
        finally:
            w.close()


async def attack(port: int, slow: int, flood: int, seconds: float) -> dict[str, dict[str, int]]:
    """The attackers, for `seconds`; how many connections each kind opened and saw closed."""
    stop = asyncio.Event()
    stats = {k: {"opened": 0, "cut": 0} for k in ("slowloris", "short body", "idle flood")}
    sources = [f"127.0.0.{i}" for i in range(2, 100)]
    tasks = []
    for i in range(slow):
        src = sources[i % len(sources)]
        kind = short_body if i % 3 == 2 else slowloris
        tasks.append(asyncio.create_task(kind(port, src, stop, stats["short body" if i % 3 == 2 else "slowloris"])))
    for i in range(flood):
        tasks.append(asyncio.create_task(idle_flood(port, sources[i % len(sources)], stop, stats["idle flood"])))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait(tasks, timeout=10)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return stats


def _attacker(port: int, slow: int, flood: int, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    _raise_fd_limit(slow + flood + 256)
    out.put(asyncio.run(attack(port, slow, flood, seconds)))


def _raise_fd_limit(need: int) -> None:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    except (ImportError, ValueError, OSError):
        pass


async def run(args: argparse.Namespace, url: str, port: int, log_path: Path) -> int:
    await partner(url, 20, None)  # warm up
    base, base_fail = await partner(url, args.baseline, None)
    # the attackers in a process of their own: the partner's own loop must not be the one flooded
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    proc = ctx.Process(target=_attacker, args=(port, args.slowloris, args.flood, args.seconds + 2.0, out), daemon=True)
    log_before = log_path.stat().st_size if log_path.exists() else 0
    proc.start()
    await asyncio.sleep(3.0)  # let the flood build up (the process starts, then floods)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(args.seconds - 1.0, stop.set)
    during, during_fail = await partner(url, None, stop)
    stats = await asyncio.to_thread(out.get, True, 60)
    await asyncio.to_thread(proc.join, 10)
    await asyncio.sleep(0.5)
    log_bytes = (log_path.stat().st_size if log_path.exists() else 0) - log_before
    kinds: dict[str, int] = {}
    sample: dict[str, str] = {}
    if log_path.exists():
        with open(log_path, "rb") as f:
            f.seek(log_before)
            for line in f.read().decode("utf-8", "replace").splitlines():
                parts = line.split(" ", 4)
                if len(parts) >= 4 and parts[2].startswith(("dispatchdesk", "aiohttp", "asyncio")):
                    key = f"{parts[2]} {parts[3][:24]}"
                    kinds[key] = kinds.get(key, 0) + 1
                    sample.setdefault(key, line[:160])

    b50, b99 = statistics.median(base), _pct(base, 99)
    d50, d99 = statistics.median(during), _pct(during, 99)
    print(f"valid partner, no flood : {len(base)} requests, p50 {b50 * 1000:.1f} ms, p99 {b99 * 1000:.1f} ms, "
          f"{len(base_fail)} failed")
    print(f"valid partner, flood    : {len(during)} requests, p50 {d50 * 1000:.1f} ms, p99 {d99 * 1000:.1f} ms, "
          f"{len(during_fail)} failed  (p99 {d99 / b99:.1f}x the baseline; target at most 10x)")
    for kind, s in stats.items():
        print(f"  {kind:11}: {s['opened']} connections opened, {s['cut']} closed by the endpoint")
    print(f"endpoint log during the flood: {log_bytes} bytes; lines by logger and first words:")
    for key, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {n:6}  {sample[key]}")
    failed = base_fail + during_fail
    for f in sorted(set(failed))[:5]:
        print(f"  failure: {f}")
    ok = not failed and d99 <= 10 * b99
    print("result:", "ok" if ok else "MISSED")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="how long the flood lasts")
    ap.add_argument("--slowloris", type=int, default=300, help="slowloris and short-body connections held")
    ap.add_argument("--flood", type=int, default=3000, help="idle connections kept being opened")
    ap.add_argument("--baseline", type=int, default=300, help="valid requests without the flood")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        log_path = Path(tmp) / "relay.log"
        ready = mp.get_context("spawn").Event()
        proc = mp.get_context("spawn").Process(target=_serve, args=(str(Path(tmp) / "d.db"), port, str(log_path), ready),
                                               daemon=True)
        proc.start()
        try:
            if not ready.wait(60):
                print("the endpoint did not start", file=sys.stderr)
                return 1
            return asyncio.run(run(args, f"http://127.0.0.1:{port}/link", port, log_path))
        finally:
            proc.terminate()
            proc.join(10)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[2] / "src"))
    raise SystemExit(main())

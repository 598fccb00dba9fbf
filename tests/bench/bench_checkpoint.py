"""Benchmark of issue 12 item 4: what the WAL-reset guard costs writers (store/checkpoint.py).

    .venv/bin/python tests/bench/bench_checkpoint.py [--writers 6] [--seconds 10]

--writers processes (each its own Depot on one SQLite file, as consoles are) create orders
through the services as fast as they can for --seconds, twice in one run:

1. Baseline: SQLite's own automatic checkpoints in every connection (the guard off, as on a
   fixed SQLite: the children take the version 3.51.3).
2. Guarded: the children take the affected version 3.40.1, so every connection has automatic
   checkpoints off and one connection of one process checkpoints every second.

It prints the orders committed per second, the commit latency p50/p99 and the largest WAL file
seen (sampled every 50 ms by the parent), and in the guarded phase how many processes held the
checkpointer role at the end (exactly one). Targets (exit 1 on a miss): guarded throughput at
least 0.8x the baseline; guarded p99 at most 1.5x the baseline's; the guarded WAL under 64 MB
(it does not grow without bound); exactly one checkpointer.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
sys.path.insert(0, str(SRC))


def _writer(path: str, version: str, i: int, go: mp.Event, seconds: float, out: mp.Queue, done: mp.Event) -> None:
    import sqlite3

    sqlite3.sqlite_version = version  # type: ignore[misc]
    import threading

    from dispatchdesk.services import Depot, LineInput, OrderInput, create_order, patiently

    depot = Depot.open(path, actor=f"writer{i}")
    lat: list[float] = []
    out.put(("ready", i))
    go.wait(120)
    end = time.time() + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        # as a console does: a write that finds the lock taken waits and tries again
        patiently(lambda: create_order(depot, OrderInput(
            pickup_address="1 Depot Road, Leeds", delivery_address="22 High Street, York",
            lines=[LineInput("BOX", 2, "a box")], parcels=1)), threading.Event())
        lat.append(time.perf_counter() - t0)
    g = depot.db.checkpoint_guard
    out.put((i, lat, bool(g is not None and g.holds)))
    done.wait(60)  # every writer answers while all are open: the role cannot have moved yet
    depot.close()


def _phase(path: Path, version: str, writers: int, seconds: float) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    done = ctx.Event()
    go = ctx.Event()  # set once every child has imported and opened its depot
    procs = [ctx.Process(target=_writer, args=(str(path), version, i, go, seconds, out, done)) for i in range(writers)]
    for p in procs:
        p.start()
    for _ in procs:
        assert out.get(timeout=120)[0] == "ready"
    go.set()
    wal = path.with_name(path.name + "-wal")
    biggest = 0
    results = []
    while len(results) < writers:
        try:
            results.append(out.get(timeout=0.05))
        except Exception:  # noqa: BLE001 - queue.Empty: sample the WAL meanwhile
            if any(p.exitcode not in (None, 0) for p in procs):
                done.set()
                raise SystemExit("a writer failed (its traceback is above)") from None
        try:
            biggest = max(biggest, wal.stat().st_size)
        except OSError:
            pass
    done.set()
    for p in procs:
        p.join(60)
    lat = sorted(x for _, lats, _ in results for x in lats)
    return {
        "orders_per_s": len(lat) / seconds,
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
        "wal_mb": biggest / 1024 / 1024,
        "holders": sum(1 for _, _, h in results if h),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writers", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    from dispatchdesk.store import Database

    with tempfile.TemporaryDirectory(prefix="bench-checkpoint-") as tmp:
        figures = {}
        for name, version in (("baseline", "3.51.3"), ("guarded", "3.40.1")):
            path = Path(tmp) / f"{name}.db"
            Database.open(path).close()
            figures[name] = _phase(path, version, args.writers, args.seconds)
        base, guard = figures["baseline"], figures["guarded"]
        print(f"{args.writers} writer processes, {args.seconds:g} s each phase, CPUs: {mp.cpu_count()}")
        for name, f in figures.items():
            print(f"  {name:9} {f['orders_per_s']:8.1f} orders/s  commit p50 {f['p50_ms']:6.1f} ms  "
                  f"p99 {f['p99_ms']:7.1f} ms  largest WAL {f['wal_mb']:6.1f} MB  checkpointers {f['holders']}")
        ratio = guard["orders_per_s"] / base["orders_per_s"]
        p99 = guard["p99_ms"] / base["p99_ms"]
        checks = [
            (f"guarded throughput {ratio:.2f}x the baseline (target >= 0.8x)", ratio >= 0.8),
            (f"guarded commit p99 {p99:.2f}x the baseline's (target <= 1.5x)", p99 <= 1.5),
            (f"guarded WAL at most {guard['wal_mb']:.1f} MB (target < 64 MB)", guard["wal_mb"] < 64),
            (f"checkpointers at the end: {guard['holders']} (target exactly 1)", guard["holders"] == 1),
        ]
        for text, ok in checks:
            print(f"  {'met   ' if ok else 'MISSED'} {text}")
        return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())

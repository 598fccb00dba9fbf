"""Benchmark of order reception (issues 8 and 13) on --orders orders (default 100,000; issue
13's figures at 1,000,000), in the ratios of the dispatch board's benchmark (bench_tui.py):

    .venv/bin/python tests/bench/bench_reception.py [--orders N] [--repeat N]

1. Opening reception: from pressing 2 on the drawn board to the table showing the newest
   orders, next to a BARE Textual app's start (one label), measured alternately in this run.
   Target: at most 3x the bare start (the board's start-up target).
2. Filtering: the filter end to end in the app (set -> matched in the text index, counted up to
   1,000, rows read, table filled) for the board benchmark's texts, the quick filter "needs a
   decision" and one partner, worst of three. Target: under 50 ms each (the board's target).

Prints every figure; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_tui import bare_app, build_big, desk_app, time_start  # noqa: E402

OPEN_RATIO = 3.0
FILTER_MS = 50.0


async def _loaded(pilot: Any, screen: Any, loads: int) -> None:
    while not (screen.loads >= loads and not any(w.group == "reception" and w.is_running
                                                  for w in pilot.app.workers)):
        await pilot.pause(0.001)


async def measure(path: Path, repeat: int) -> dict[str, Any]:
    from dispatchdesk.services.queries import NEEDS_DECISION
    from dispatchdesk.tui.screens.reception import ReceptionScreen

    out: dict[str, Any] = {"bare_s": [], "open_s": [], "filter_ms": {}}
    for _ in range(repeat):
        out["bare_s"].append(await time_start(bare_app))
        app = desk_app(path)
        async with app.run_test(size=(80, 24)) as pilot:
            while app.drawn_at is None:
                await pilot.pause(0.001)
            t = time.perf_counter()
            await pilot.press("2")
            while not isinstance(app.screen, ReceptionScreen):
                await pilot.pause(0.001)
            await _loaded(pilot, app.screen, 1)
            out["open_s"].append(time.perf_counter() - t)
            out["rows"] = len(app.screen.rows)
            out["total"] = app.screen.total
    app = desk_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        while app.drawn_at is None:
            await pilot.pause(0.001)
        await pilot.press("2")
        while not isinstance(app.screen, ReceptionScreen):
            await pilot.pause(0.001)
        screen = app.screen
        await _loaded(pilot, screen, 1)
        cases: list[tuple[str, dict[str, str]]] = [
            (t, {"text": t}) for t in ("york", "DD-0500", "northwind", "mill leeds", "no such order", "DD-05", "7",
                                      "R00012")]
        cases += [("needs a decision", {"quick": NEEDS_DECISION}), ("partner Shopfront", {"partner": "Shopfront"})]
        for name, kw in cases:
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                screen.set_filter(**kw)
                await _loaded(pilot, screen, screen.loads + 1)
                runs.append((time.perf_counter() - t) * 1000)
                total, more = screen.total, screen.more
                screen.set_filter(text="", quick="", partner="")
                await _loaded(pilot, screen, screen.loads + 1)
            out["filter_ms"][name] = (max(runs), total, more)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", type=Path, help="an existing depot (e.g. bench_tui.py --keep's) instead of building one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "big.sqlite"
        if args.db is None:
            t = time.perf_counter()
            build_big(path, args.orders)
            print(f"built {args.orders:,} orders in {time.perf_counter() - t:.1f} s")
        out = asyncio.run(measure(path, args.repeat))
    bare = statistics.median(out["bare_s"])
    opened = statistics.median(out["open_s"])
    ratio = opened / bare
    ok = True
    print(f"bare Textual app start      {bare * 1000:7.1f} ms")
    print(f"open reception (2 pressed)  {opened * 1000:7.1f} ms   {ratio:5.2f} x bare   "
          f"({out['rows']:,} rows of {out['total']:,})   target <= {OPEN_RATIO} x")
    ok &= ratio <= OPEN_RATIO
    for name, (ms, total, more) in out["filter_ms"].items():
        print(f"filter {name!r:<22} {ms:7.1f} ms   ({total:,}{'+' if more else ''} match)   "
              f"target < {FILTER_MS:.0f} ms")
        ok &= ms < FILTER_MS
    print("all targets met" if ok else "a target was missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

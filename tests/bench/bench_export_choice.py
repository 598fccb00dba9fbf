"""Benchmark: the console's Export… (issue 8): CSV of every order with the progress bar's
callback, of a filter, and of a selection of 1,000, against the plain CSV export of every
order without a callback (the baseline, same run). The progress callback must cost little.

    .venv/bin/python tests/bench/bench_export_choice.py [--orders N]   # default 20,000

Exits 1 when the export with progress takes more than 1.3x the baseline.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_io import make_data  # noqa: E402

from dispatchdesk.demo import add_demo_partners  # noqa: E402
from dispatchdesk.services import Depot  # noqa: E402
from dispatchdesk.services.export import export_csv  # noqa: E402
from dispatchdesk.services.export.choice import ExportChoice, export_orders  # noqa: E402
from dispatchdesk.services.importer import import_json  # noqa: E402

TARGET = 1.3


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    """The best of two runs."""
    best = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20_000)
    n = ap.parse_args().orders
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        depot = Depot.open(db, actor="bench")
        add_demo_partners(depot)
        import_json(depot, make_data(n))
        out = Path(tmp) / "out.csv"
        calls = 0

        def progress(done: int, total: int) -> None:
            nonlocal calls
            calls += 1

        base = timed(lambda: export_csv(depot, out))
        every = timed(lambda: export_orders(depot, "csv", out, ExportChoice(), progress=progress))
        per_run = calls // 2
        some = ExportChoice(numbers=tuple(f"DD-{i:06d}" for i in range(1, 1001)))
        picked = timed(lambda: export_orders(depot, "csv", out, some, progress=progress))
        filtered = timed(lambda: export_orders(depot, "csv", out, ExportChoice(text="Baltic"), progress=progress))
        depot.close()
    print(f"orders:                     {n:,}")
    print(f"CSV, no progress (baseline): {base:.2f} s")
    print(f"Export… every order:         {every:.2f} s = {every / base:.2f}x ({per_run} progress calls per run)")
    print(f"Export… 1,000 selected:      {picked:.2f} s = {picked / base:.2f}x")
    print(f"Export… filter 'Baltic':     {filtered:.2f} s = {filtered / base:.2f}x")
    return 0 if every / base <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())

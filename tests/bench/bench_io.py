"""Benchmark: export and import of 100,000 orders (issue 2: `export --format json` under 5 s).

Builds a depot of N orders (default 100,000; `--orders N` to change) through
`import_json` (itself measured), then times `dispatchdesk export --format json` to a file,
in process, against a baseline measured in the same run: raw sqlite3 reading the same
rows (orders, lines, tags, notices) and json.dumps of them, with no grouping or shaping.

    .venv/bin/python tests/bench/bench_io.py [--orders N]

Prints each figure with its ratio to the baseline, and exits 1 if the export takes 5 s or
more (the issue's target).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dispatchdesk.cli import main as cli_main
from dispatchdesk.demo import add_demo_partners
from dispatchdesk.services import Depot
from dispatchdesk.services.importer import import_json

TARGET_S = 5.0


def make_data(n: int) -> dict:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    statuses = ["created", "dispatched", "accepted", "picked_up", "delivered", "rejected", "cancelled"]
    orders, notices = [], []
    for i in range(n):
        st = statuses[i % len(statuses)]
        sent = st in ("dispatched", "accepted", "picked_up", "delivered")
        number = f"B-{i:07d}"
        orders.append({
            "number": number,
            "status": st,
            "partner": "Baltic Freight Depot" if i % 2 else None,
            "partner_ref": f"BF-{i}" if i % 2 else None,
            "assignee": "Northline Haulage" if sent else None,
            "pickup_address": f"{i % 200} Mill Lane, Leeds LS1 {i % 9}AB",
            "delivery_address": f"{i % 300} High Street, York YO1 {i % 7}CD",
            "created_at": (t0 + timedelta(minutes=i)).isoformat(),
            "parcels": 1 + i % 9,
            "weight_kg": float(i % 500),
            "flags": {"archived": i % 10 == 0},
            "tags": ["express"] if i % 5 == 0 else [],
            "lines": [
                {"article": "BOX-S", "description": "Small box", "quantity": 1 + i % 4},
                {"article": "PAL-EUR", "description": "Euro pallet", "quantity": 1},
            ],
        })
        if sent:
            notices.append({"id": str(uuid.UUID(int=i)), "order": number, "partner": "Northline Haulage",
                            "kind": "order.new", "state": "acknowledged", "transport": "http"})
    return {"orders": orders, "notices": notices, "followups": []}


def baseline(db: Path, out: Path) -> float:
    t = time.perf_counter()
    con = sqlite3.connect(db)
    rows = {
        table: con.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - fixed names
        for table in ("orders", "order_lines", "tags", "notices", "followups")
    }
    con.close()
    out.write_text(json.dumps(rows, default=str))
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=100_000)
    n = ap.parse_args().orders
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        depot = Depot.open(db, actor="bench")
        add_demo_partners(depot)
        data = make_data(n)
        t = time.perf_counter()
        result = import_json(depot, data)
        t_import = time.perf_counter() - t
        depot.close()
        assert len(result.orders) == n
        t_base = min(baseline(db, Path(tmp) / "raw.json") for _ in range(2))
        out = Path(tmp) / "export.json"
        times = []
        for _ in range(2):
            t = time.perf_counter()
            rc = cli_main(["--db", str(db), "export", "--format", "json", "-o", str(out)])
            times.append(time.perf_counter() - t)
            assert rc == 0
        t_export = min(times)
        exported = json.loads(out.read_text())
        assert len(exported["orders"]) == n
        csv_t = time.perf_counter()
        cli_main(["--db", str(db), "export", "--format", "csv", "-o", str(Path(tmp) / "x.csv")])
        t_csv = time.perf_counter() - csv_t
    print(f"orders: {n}")
    print(f"baseline (raw sqlite3 read + json.dumps): {t_base:.2f} s")
    print(f"export --format json: {t_export:.2f} s = {t_export / t_base:.1f}x baseline "
          f"(target < {TARGET_S:.0f} s: {'met' if t_export < TARGET_S else 'NOT MET'})")
    print(f"export --format csv:  {t_csv:.2f} s = {t_csv / t_base:.1f}x baseline")
    print(f"import_json:          {t_import:.2f} s = {t_import / t_base:.1f}x baseline")
    return 0 if t_export < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())

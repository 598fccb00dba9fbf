"""Benchmark: import and export of N orders (issue 13: import <= 4x, CSV and Excel export <= 3x,
JSON export <= 1.5x their raw baselines, memory flat).

    .venv/bin/python tests/bench/bench_io.py [--orders N]     # default 100,000

Writes an import file of N orders (the export's shape, written as a stream), then runs, each
in its own process (timed from start to exit, peak memory from the kernel's rusage):

- ``dispatchdesk import FILE`` into a fresh depot, against a raw baseline: ``json.load`` of
  the same file and raw sqlite3 ``executemany`` of the same rows (orders, lines, tags,
  notices, one audit entry per order) into a copy of the same empty depot, with the same
  database work for migration 0008's text index and counts as the import (triggers dropped,
  the new orders indexed by one INSERT ... SELECT and counted by one upsert, triggers made
  again, in the one transaction);
- ``dispatchdesk export --format json|csv|xlsx -o FILE`` of the N orders, each against raw
  sqlite3 reading the same tables plus the format's own writer: ``json.dumps`` of every row,
  the csv module's ``writerows``, openpyxl write-only ``append``.

Each side is timed inside its process once its modules are imported (start-up is another
benchmark's: bench_tui). Every figure is a ratio to its baseline, measured in the same run on the same machine (the
best of ``--runs`` runs each). Exits 1 when a ratio misses its target. The peak memory of
each of our processes is printed; run it at 100,000 and at 1,000,000 to see it stay flat.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dispatchdesk.demo import add_demo_partners
from dispatchdesk.services import Depot

TARGETS = {"import": 4.0, "csv": 3.0, "xlsx": 3.0, "json": 1.5}
STATUSES = ["created", "dispatched", "accepted", "picked_up", "delivered", "rejected", "cancelled"]


def record(i: int) -> tuple[dict, dict | None]:
    """Order i of the benchmark's file, and its notice (orders that were sent have one)."""
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    st = STATUSES[i % len(STATUSES)]
    sent = st in ("dispatched", "accepted", "picked_up", "delivered")
    number = f"B-{i:07d}"
    order = {
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
    }
    notice = None
    if sent:
        notice = {"id": str(uuid.UUID(int=i)), "order": number, "partner": "Northline Haulage",
                  "kind": "order.new", "state": "acknowledged", "transport": "http"}
    return order, notice


def make_data(n: int) -> dict:
    """The whole file as data (small sizes; bench_export_choice uses it)."""
    orders, notices = [], []
    for i in range(n):
        o, nt = record(i)
        orders.append(o)
        if nt:
            notices.append(nt)
    return {"orders": orders, "notices": notices, "followups": []}


def write_file(path: Path, n: int) -> None:
    """The import file, written as a stream in the export's layout (one record per line)."""
    def lines(key: str) -> Iterator[str]:
        first = True
        for i in range(n):
            o, nt = record(i)
            rec = o if key == "orders" else nt
            if rec is not None:
                yield ("\n " if first else ",\n ") + json.dumps(rec)
                first = False

    with path.open("w", encoding="utf-8") as f:
        f.write("{")
        for k, key in enumerate(("orders", "notices")):
            f.write(("\n" if k == 0 else "],\n") + json.dumps(key) + ": [")
            buf: list[str] = []
            for line in lines(key):
                buf.append(line)
                if len(buf) >= 5000:
                    f.write("".join(buf))
                    buf.clear()
            f.write("".join(buf) + "\n")
        f.write('],\n"followups": []\n}\n')


# --------------------------------------------------------------------------- raw baselines
# Each runs as `python -c` in its own process, as the command does.

OURS = r"""
import sys, time
import dispatchdesk.cli.data, dispatchdesk.cli.progress, dispatchdesk.services.export, dispatchdesk.services.importer
from dispatchdesk.cli import main
t, c = time.perf_counter(), time.process_time()
rc = main(sys.argv[1:])
sys.stderr.write(f"TIME {time.perf_counter() - t} {time.process_time() - c}\n")
sys.exit(rc)
"""

RAW_IMPORT = r"""
import json, sqlite3, sys, time
t, c = time.perf_counter(), time.process_time()
src, db = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8") as f:
    data = json.load(f)
con = sqlite3.connect(db, isolation_level=None)
con.execute("PRAGMA cache_size = -65536")  # as the import's own connection (IMPORT_CACHE_KIB)
con.execute("BEGIN IMMEDIATE")
pid = dict((name, i) for i, name in con.execute("SELECT id, name FROM partners"))
base = con.execute("SELECT coalesce(max(id), 0) FROM orders").fetchone()[0]
orders, lines, tags, audit = [], [], [], []
for k, o in enumerate(data["orders"], base + 1):
    ts = o["created_at"].replace("T", " ")[:19] + ".000000"
    orders.append((k, o["number"], 1, o["status"], pid.get(o["partner"]), pid.get(o["assignee"]),
                   o["partner_ref"], o["pickup_address"], o["delivery_address"], o["parcels"], o["weight_kg"],
                   o["flags"].get("archived", False), False, False, ts, ts))
    lines.extend((k, j, ln["article"], ln["description"], ln["quantity"], 0) for j, ln in enumerate(o["lines"], 1))
    tags.extend((k, t) for t in o["tags"])
    audit.append((k, ts, "bench", "imported", o["status"], "imported", 1, "[]", "[]"))
ids = {o["number"]: k for k, o in enumerate(data["orders"], base + 1)}
notices = [(n["id"], ids[n["order"]], pid[n["partner"]], n["kind"], n["transport"], "{}", n["state"], 1, 0,
            "2025-01-01 00:00:00.000000", False) for n in data["notices"]]
# the same database work as the import's (store/bulk.py): 0008's triggers off, the rows in, the new
# orders indexed by one INSERT ... SELECT with the same FTS5 buffer and counted by one upsert
triggers = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'orders' "
                       "AND (name LIKE 'orders_search_%' OR name LIKE 'orders_count_%')").fetchall()
for name, _ in triggers:
    con.execute(f"DROP TRIGGER {name}")
con.executemany("INSERT INTO orders (id, number, version, status, source_id, assignee_id, partner_ref, "
                "pickup_address, delivery_address, parcels, weight_kg, archived, cancellation_requested, "
                "partner_not_informed, created_at, status_changed_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", orders)
con.executemany("INSERT INTO order_lines (order_id, lineno, article, description, quantity, cancelled) "
                "VALUES (?,?,?,?,?,?)", lines)
con.executemany("INSERT INTO tags (order_id, name) VALUES (?,?)", tags)
con.executemany("INSERT INTO notices (id, order_id, partner_id, kind, transport, payload, state, seq, attempts, "
                "created_at, awaits_answer) VALUES (?,?,?,?,?,?,?,?,?,?,?)", notices)
con.executemany("INSERT INTO audit (order_id, at, actor, action, to_status, detail, after_version, notices, "
                "followups) VALUES (?,?,?,?,?,?,?,?,?)", audit)
cols = "number, partner_ref, pickup_address, delivery_address"
con.execute("INSERT INTO order_search(order_search, rank) VALUES ('hashsize', 33554432)")
con.execute(f"INSERT INTO order_search(rowid, {cols}) SELECT id, {cols} FROM orders WHERE id > ? ORDER BY id", (base,))
con.execute("INSERT INTO order_search(order_search, rank) VALUES ('hashsize', 1048576)")
con.execute("DELETE FROM order_search_config WHERE k = 'hashsize'")
con.execute("INSERT INTO board_counts (list, n) SELECT CASE WHEN archived THEN 'archived' ELSE status END, count(*) "
            "FROM orders WHERE id > ? GROUP BY 1 ON CONFLICT (list) DO UPDATE SET n = board_counts.n + excluded.n",
            (base,))
for _, sql in triggers:
    con.execute(sql)
con.execute("COMMIT")
sys.stderr.write(f"TIME {time.perf_counter() - t} {time.process_time() - c}\n")
"""

RAW_READ = r"""
import csv, json, sqlite3, sys, time
from openpyxl import Workbook
t, c = time.perf_counter(), time.process_time()
db, fmt, out = sys.argv[1], sys.argv[2], sys.argv[3]
con = sqlite3.connect(db)
def rows(table):
    return con.execute(f"SELECT * FROM {table} ORDER BY id")
"""

DONE = """
sys.stderr.write(f"TIME {time.perf_counter() - t} {time.process_time() - c}\\n")
"""

RAW_EXPORT = {
    "json": RAW_READ + r"""
with open(out, "w", encoding="utf-8") as f:
    for table in ("orders", "order_lines", "tags", "notices", "followups"):
        f.write(json.dumps(rows(table).fetchall(), default=str))
""" + DONE,
    "csv": RAW_READ + r"""
with open(out, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    for table in ("orders", "order_lines", "tags"):
        w.writerows(rows(table))
""" + DONE,
    "xlsx": RAW_READ + r"""
wb = Workbook(write_only=True)
for table in ("orders", "order_lines", "tags"):
    ws = wb.create_sheet(table)
    for r in rows(table):
        ws.append(list(r))
wb.save(out)
""" + DONE,
}


def run(argv: list[str]) -> tuple[float, float, float]:
    """The work's CPU seconds and wall seconds in its process (timed there once its modules
    are imported: loading Python and the modules is the same for a small depot and a big
    one, and start-up is bench_tui's), and the peak resident memory of the whole process in
    MB (the kernel's rusage)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed: {err}")
    wall, cpu = next(map(float, line.split()[1:3]) for line in err.splitlines() if line.startswith("TIME "))
    return cpu, wall, usage.ru_maxrss / 1024


def best(runs: int, argv: list[str], before=None) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """The best CPU and wall times of ``runs`` runs, and the largest peak memory."""
    out = []
    for _ in range(runs):
        if before is not None:
            before()
        out.append(run(argv))
    return min(c for c, _, _ in out), min(w for _, w, _ in out), max(m for _, _, m in out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=2, help="runs of each, the best kept (default 2)")
    ap.add_argument("--only", default="import,json,csv,xlsx",
                    help="what to measure, comma-separated (default: import,json,csv,xlsx; the exports need the import)")
    args = ap.parse_args()
    n = args.orders
    py = sys.executable
    cli = [py, "-c", OURS]
    results: list[tuple[str, tuple[float, float, float], tuple[float, float, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "in.json"
        t = time.perf_counter()
        write_file(src, n)
        print(f"orders: {n:,}; import file {src.stat().st_size / 1e6:.0f} MB written in {time.perf_counter() - t:.0f} s",
              flush=True)
        empty = root / "empty.db"
        d = Depot.open(empty, actor="bench")
        add_demo_partners(d)
        d.close()
        db, raw_db = root / "depot.db", root / "raw.db"

        def fresh(path: Path) -> None:
            shutil.copy(empty, path)

        base_imp = best(args.runs, [py, "-c", RAW_IMPORT, str(src), str(raw_db)], lambda: fresh(raw_db))
        ours_imp = best(args.runs, [*cli, "--db", str(db), "import", str(src)], lambda: fresh(db))
        results.append(("import", ours_imp, base_imp))
        print(f"import done ({ours_imp[1]:.1f} s)", flush=True)
        for fmt in [f for f in ("json", "csv", "xlsx") if f in args.only.split(",")]:
            out = root / f"out.{fmt}"
            base = best(args.runs, [py, "-c", RAW_EXPORT[fmt], str(db), fmt, str(root / f"raw.{fmt}")])
            ours = best(args.runs, [*cli, "--db", str(db), "export", "--format", fmt, "-o", str(out)])
            results.append((f"export {fmt}", ours, base))
            print(f"export {fmt} done ({ours[1]:.1f} s)", flush=True)
        if (root / "out.json").exists():
            with (root / "out.json").open(encoding="utf-8") as f:
                assert sum(1 for line in f if line.startswith(' {"number"')) == n
    failed = False
    print(f"\n{'':<13}{'CPU ours':>9}{'baseline':>9}{'ratio':>7}{'target':>7}"
          f"{'wall ours':>10}{'baseline':>9}{'ratio':>7}{'peak MB':>8}")
    for what, (cpu, wall, peak), (b_cpu, b_wall, _) in results:
        target = TARGETS[what.split()[-1]]
        ok = cpu / b_cpu <= target
        failed |= not ok
        print(f"{what:<13}{cpu:>8.1f}s{b_cpu:>8.1f}s{cpu / b_cpu:>6.2f}x{target:>6.1f}x"
              f"{wall:>9.1f}s{b_wall:>8.1f}s{wall / b_wall:>6.2f}x{peak:>8.0f}  {'met' if ok else 'MISSED'}")
    print("(targets judged on CPU time: on a shared machine the wall clock moves with everyone's load)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the foundation (issue 2) on a depot of 100,000 orders.

    .venv/bin/python tests/bench/bench_foundation.py [--orders N] [--trashes N] [--keep DIR]
                                                    [--no-export]

Issue 13 asks for the trash at 1,000,000 orders: `--orders 1000000 --no-export` (the export
is stream-io's bench, bench_io.py). Builds a million orders in a few minutes.

1. Builds the database fast: tests/bench/bigdepot.py's bulk build (as bench_tui), then this
   bench's partners through the services and the Created orders it trashes.
2. One trash (the change, its audit entry and its notice, committed) timed over --trashes
   orders, against a BASELINE measured in the same run on the same file with the same
   pragmas: raw sqlite3 doing the same three writes (order update, audit insert, notice
   insert) in one BEGIN IMMEDIATE ... COMMIT. The two alternate in blocks of 25, so that
   the machine's load treats them alike. Targets: p50 and p99 at most 3x the baseline, p99 < 20 ms.
3. The JSON export of every order (what `dispatchdesk export --format json` does), in process
   and through the command line. Target: under 5 s.

Prints every figure; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from dispatchdesk.services import Depot, PartnerInput, add_partner, trash
from dispatchdesk.store.models import AuditEntry, Notice, Order, OrderLine, Partner

TRASH_RATIO = 3.0
TRASH_P99_MS = 20.0
EXPORT_S = 5.0
PARTNERS = [
    PartnerInput(
        "Plain Client", "client", url="http://127.0.0.1:9/pc", secret="bench-secret-pc-0001"
    ),
    PartnerInput(
        "Shopfront", "channel", url="http://127.0.0.1:9/sh", secret="bench-secret-sh-0001"
    ),
    PartnerInput(
        "Swift Haulage", "subcontractor", url="http://127.0.0.1:9/sw", secret="bench-secret-sw-01"
    ),
    PartnerInput(
        "Central Warehouse", "warehouse", url="http://127.0.0.1:9/wh", secret="bench-secret-wh-01"
    ),
]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


# --------------------------------------------------------------------------- building


def build(path: Path, n: int, reserved: int) -> tuple[Depot, list[str], list[str]]:
    """n orders: n - reserved by tests/bench/bigdepot.py's bulk build (triggers off, the text
    index and the counts filled once: 100,000 in seconds, where inserting them with 0008's
    triggers firing took 654 s), then `reserved` Created orders from Plain Client for the
    timings, written through the models' table (the triggers fire for these few)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bigdepot import build as build_big

    build_big(path, n - reserved)
    depot = Depot.open(path, actor="bench")
    with depot.uow(write=False) as uow:
        have = set(uow.session.scalars(select(Partner.name)))
    for p in PARTNERS:
        if p.name not in have:
            add_partner(depot, p)
    with depot.uow(write=False) as uow:
        pid = dict(uow.session.execute(select(Partner.name, Partner.id)).all())
        first = (uow.session.scalar(select(func.max(Order.id))) or 0) + 1
    client = pid["Plain Client"]
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    orders, lines, audit = [], [], []
    for oid in range(first, first + reserved):
        at = t0 + timedelta(minutes=oid)
        orders.append(dict(
            id=oid, number=f"BN-{oid:07d}", version=1, status="created", source_id=client, assignee_id=None,
            partner_ref=f"REF-{oid}", pickup_address=f"{oid % 200} Quay Road, Hull",
            delivery_address=f"{oid % 500} High Street, York", pickup_after=at, deliver_by=at + timedelta(hours=8),
            parcels=1 + oid % 5, weight_kg=float(oid % 900) / 3, archived=False, cancellation_requested=False,
            cancellation_request=None, partner_not_informed=False, cancellation_refused=None, partner_status=None,
            partner_status_at=None, replaces_id=None, created_at=at, received_at=at, dispatched_at=None,
            status_changed_at=at,
        ))
        lines.append(dict(order_id=oid, lineno=1, article="CRATE", description="Apples", quantity=4, cancelled=0))
        audit.append(dict(
            order_id=oid, at=at, actor="bench", action="created", from_status=None, to_status="created",
            reason=None, detail=f"Order BN-{oid:07d} created.", notices=[], followups=[], before=None,
            after_version=1, undoable_until=None, undone_by=None, undo_of=None,
        ))
    with depot.db.engine.begin() as conn:
        conn.execute(insert(Order.__table__), orders)
        conn.execute(insert(OrderLine.__table__), lines)
        conn.execute(insert(AuditEntry.__table__), audit)
    numbers = [o["number"] for o in orders]
    half = len(numbers) // 2
    return depot, numbers[:half], numbers[half:]


# --------------------------------------------------------------------------- the baseline


class RawTrash:
    """The same three writes in raw sqlite3, one transaction each, same file, same pragmas."""

    def __init__(self, path: Path, client_id: int) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "busy_timeout = 5000",
            "foreign_keys = ON",
            "journal_mode = WAL",
            "synchronous = NORMAL",
        ):
            self.conn.execute(f"PRAGMA {pragma}")
        self.client_id = client_id

    def __call__(self, number: str) -> None:
        c = self.conn
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        c.execute("BEGIN IMMEDIATE")
        oid, version = c.execute(
            "SELECT id, version FROM orders WHERE number = ?", (number,)
        ).fetchone()
        c.execute(
            "UPDATE orders SET status = 'rejected', version = ?, status_changed_at = ? WHERE id = ? AND version = ?",
            (version + 1, now, oid, version),
        )
        c.execute(
            "INSERT INTO audit (order_id, at, actor, action, from_status, to_status, detail, notices, followups,"
            " before, after_version) VALUES (?, ?, 'bench', 'trash', 'created', 'rejected', ?, '[]', '[]', ?, ?)",
            (oid, now, "Order trashed.", json.dumps({"status": "created"}), version + 1),
        )
        c.execute(
            "INSERT INTO notices (id, order_id, partner_id, kind, transport, payload, state, seq, attempts,"
            " created_at, release_at, next_attempt_at, awaits_answer)"
            " VALUES (?, ?, ?, 'order.rejected', 'http', ?, 'held', 1, 0, ?, ?, ?, 0)",
            (
                str(uuid.uuid4()),
                oid,
                self.client_id,
                json.dumps({"order": number, "status": "rejected"}),
                now,
                now,
                now,
            ),
        )
        c.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--trashes", type=int, default=300)
    ap.add_argument("--keep", help="build the database in this directory and keep it")
    ap.add_argument("--no-export", action="store_true",
                    help="time the trash only (at 1,000,000 orders the export is bench_io's)")
    args = ap.parse_args()

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dd-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "bench.sqlite"
    if path.exists():
        path.unlink()
    warm = 30
    t = time.perf_counter()
    depot, ours, theirs = build(path, args.orders, 2 * (args.trashes + warm))
    build_s = time.perf_counter() - t
    with depot.uow(write=False) as uow:
        total = uow.session.scalar(select(func.count()).select_from(Order))
        client_id = uow.session.scalar(select(Partner.id).where(Partner.name == "Plain Client"))
    print(f"database: {total:,} orders built in {build_s:.1f} s  ({path})")

    raw = RawTrash(path, client_id)
    for i in range(warm):  # warm both paths: compiled statements, page cache
        trash(depot, ours[i])
        raw(theirs[i])
    ours_ms, raw_ms, ours_cpu, raw_cpu = [], [], [], []
    # alternate in blocks: both meet the same moments of the machine, and neither pays for
    # re-reading pages the other just wrote more than a several-dispatcher depot would
    block = 25
    a_left, b_left = ours[warm:], theirs[warm:]
    for start in range(0, len(a_left), block):
        for a in a_left[start : start + block]:
            t, c = time.perf_counter(), time.process_time()
            trash(depot, a)
            ours_ms.append((time.perf_counter() - t) * 1000)
            ours_cpu.append((time.process_time() - c) * 1000)
        for b in b_left[start : start + block]:
            t, c = time.perf_counter(), time.process_time()
            raw(b)
            raw_ms.append((time.perf_counter() - t) * 1000)
            raw_cpu.append((time.process_time() - c) * 1000)
    raw.close()
    # each trash really wrote its change, audit entry and notice
    with depot.uow(write=False) as uow:
        s = uow.session
        done = s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "trash")
        )
        held = s.scalar(
            select(func.count()).select_from(Notice).where(Notice.kind == "order.rejected")
        )
    assert done == held == 2 * len(ours), (done, held)

    p50, p99 = statistics.median(ours_ms), pct(ours_ms, 99)
    b50, b99 = statistics.median(raw_ms), pct(raw_ms, 99)
    print(f"\ntrash, {len(ours_ms)} orders (change + audit entry + notice, committed):")
    print(
        f"  services.trash     p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   mean {statistics.fmean(ours_ms):7.3f} ms"
    )
    print(
        f"  raw sqlite3 (base) p50 {b50:7.3f} ms   p99 {b99:7.3f} ms   mean {statistics.fmean(raw_ms):7.3f} ms"
    )
    r50, r99 = p50 / b50, p99 / b99
    print(
        f"  ratio              p50 {r50:7.2f} x    p99 {r99:7.2f} x    (target <= {TRASH_RATIO:.0f} x; p99 < {TRASH_P99_MS:.0f} ms)"
    )
    # the same on a quiet moment (p10) and in CPU time, which other programs on the machine
    # disturb less than wall time
    q, qb = pct(ours_ms, 10), pct(raw_ms, 10)
    c50, cb50 = statistics.median(ours_cpu), statistics.median(raw_cpu)
    print(f"  quiet (p10)        {q:7.3f} ms vs {qb:7.3f} ms = {q / qb:5.2f} x")
    print(f"  CPU time p50       {c50:7.3f} ms vs {cb50:7.3f} ms = {c50 / max(cb50, 1e-6):5.2f} x")
    print(f"  machine load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

    # ------------------------------------------------------------------ export
    if args.no_export:
        depot.close()
        missed = []
        if r50 > TRASH_RATIO or r99 > TRASH_RATIO:
            missed.append(f"trash ratio {r50:.2f}x / {r99:.2f}x > {TRASH_RATIO}x")
        if p99 >= TRASH_P99_MS:
            missed.append(f"trash p99 {p99:.1f} ms >= {TRASH_P99_MS} ms")
        print("\nRESULT: " + ("all targets met" if not missed else "MISSED: " + "; ".join(missed)))
        _clean(tmp, args.keep)
        return 1 if missed else 0
    out = tmp / "export.json"
    try:
        from dispatchdesk.services.export import export_json, write_json
    except ImportError:
        export_json = None
    in_process = None
    if export_json is not None:
        t = time.perf_counter()
        data = export_json(depot)
        write_json(data, out)
        in_process = time.perf_counter() - t
        count = len(data["orders"])
        print(
            f"\nexport --format json, in process: {count:,} orders in {in_process:.2f} s "
            f"({out.stat().st_size / 1e6:.1f} MB)"
        )
        del data
    depot.close()
    cli = Path(sys.executable).with_name("dispatchdesk")
    t = time.perf_counter()
    proc = subprocess.run(
        [str(cli), "--db", str(path), "export", "--format", "json"],
        stdout=open(tmp / "export-cli.json", "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    cli_s = time.perf_counter() - t
    if proc.returncode != 0:
        print(
            f"export through the command line failed ({proc.returncode}): {proc.stderr.decode()[-500:]}"
        )
        cli_s = float("inf")
    else:
        print(
            f"export --format json, command line (interpreter start included): {cli_s:.2f} s "
            f"({(tmp / 'export-cli.json').stat().st_size / 1e6:.1f} MB)"
        )
    # The target is the command (`dispatchdesk export --format json`); building the
    # whole export as Python objects in process is printed above for reference only.
    print(f"  target: the command under {EXPORT_S:.0f} s")

    missed = []
    if r50 > TRASH_RATIO or r99 > TRASH_RATIO:
        missed.append(f"trash ratio {r50:.2f}x / {r99:.2f}x > {TRASH_RATIO}x")
    if p99 >= TRASH_P99_MS:
        missed.append(f"trash p99 {p99:.1f} ms >= {TRASH_P99_MS} ms")
    if cli_s >= EXPORT_S:
        missed.append(f"export command {cli_s:.2f} s >= {EXPORT_S} s")
    print("\nRESULT: " + ("all targets met" if not missed else "MISSED: " + "; ".join(missed)))
    _clean(tmp, args.keep)
    return 1 if missed else 0


def _clean(tmp: Path, keep: str | None) -> None:
    if not keep:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    sys.exit(main())

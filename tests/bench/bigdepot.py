"""A depot of N orders, built fast, for every benchmark: `build(path_or_url, n)`.

    .venv/bin/python tests/bench/bigdepot.py PATH_OR_URL N [--seed S]

The schema is made by the real migrations (`Depot.open`), the partners by the real service
(`add_partner`); the orders, their lines, tags, notices, follow-ups and audit entries go in by
raw `executemany` (SQLite) or COPY (PostgreSQL) in one transaction. On SQLite the secondary
indexes and triggers are dropped for the bulk insert and made again afterwards (so a text index
kept by triggers is filled once, in bulk, by `_refill`), which is what makes 1,000,000 orders take
well under a minute or two.

What it holds, repeatably for a seed: statuses weighted like a working depot (about 30% Created,
20% Dispatched, 15% Accepted, 10% Picked up, 15% Delivered, 5% Rejected, 5% Cancelled), about 5%
archived, orders from four sources (our own, two clients, a channel) and held by three
subcontractors/warehouses, a partner reference on two orders in three, street addresses in eight
towns, one or two lines each, a tag on one in ten, a notice on one in five handed over, a follow-up
on one in fifty, and one audit entry per order ("created") plus one for each status change.
Numbers are DD-000001 ... in creation order.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PARTNERS = (("Swift Haulage", "subcontractor"), ("Northwind Retail", "client"),
            ("Shopfront", "channel"), ("Central Warehouse", "warehouse"),
            ("Corner Bakery", "client"), ("Van Man", "subcontractor"))
TOWNS = ("Leeds", "York", "Hull", "Bradford", "Wakefield", "Harrogate", "Sheffield", "Doncaster")
STREETS = ("Mill Lane", "High Street", "Station Road", "Church Street", "Park Avenue", "Kings Road",
           "Victoria Street", "Albion Way")
STATUSES = ("created", "dispatched", "accepted", "picked_up", "delivered", "rejected", "cancelled")
WEIGHTS = (30, 20, 15, 10, 15, 5, 5)
HELD = ("dispatched", "accepted", "picked_up", "delivered")
ARTICLES = ("BOX", "PALLET", "ENVELOPE", "CRATE", "TYRE", "SOFA")
TAGS = ("fragile", "urgent", "cold", "heavy")
BATCH = 50_000

ORDER_COLS = ("id", "number", "version", "status", "source_id", "assignee_id", "partner_ref",
              "pickup_address", "delivery_address", "pickup_after", "deliver_by", "parcels", "weight_kg",
              "archived", "cancellation_requested", "partner_not_informed", "created_at", "received_at",
              "status_changed_at")
LINE_COLS = ("order_id", "lineno", "article", "description", "quantity", "cancelled")
TAG_COLS = ("order_id", "name")
NOTICE_COLS = ("id", "order_id", "partner_id", "kind", "transport", "payload", "state", "seq", "attempts",
               "created_at", "awaits_answer")
FOLLOWUP_COLS = ("order_id", "text", "created_at", "withdrawn")
AUDIT_COLS = ("order_id", "at", "actor", "action", "from_status", "to_status", "detail", "notices",
              "followups", "after_version")


def _ts(d: datetime) -> str:
    # how SQLAlchemy stores a datetime in SQLite (UTC, no offset); PostgreSQL reads it as UTC
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")


def _rows(n: int, ids: dict[str, int], seed: int, start: int = 1) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """Batches of rows for every table, orders `start`..`n`."""
    rnd = random.Random(seed)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    sources = [None, ids["Northwind Retail"], ids["Shopfront"], ids["Corner Bakery"]]
    takers = [ids["Swift Haulage"], ids["Central Warehouse"], ids["Van Man"]]
    empty = "[]"
    for lo in range(start, n + 1, BATCH):
        out: dict[str, list[tuple[Any, ...]]] = {"orders": [], "order_lines": [], "tags": [], "notices": [],
                                                  "followups": [], "audit": []}
        orders, lines, tags, notices = out["orders"], out["order_lines"], out["tags"], out["notices"]
        followups, audit = out["followups"], out["audit"]
        for i in range(lo, min(n, lo + BATCH - 1) + 1):
            status = rnd.choices(STATUSES, WEIGHTS)[0]
            created = base + timedelta(seconds=i * 30 + rnd.randrange(30))
            changed = created + timedelta(minutes=rnd.randrange(0, 5000)) if status != "created" else created
            src = rnd.choice(sources)
            assignee = rnd.choice(takers) if status in HELD else None
            town_a, town_b = rnd.choice(TOWNS), rnd.choice(TOWNS)
            c, ch = _ts(created), _ts(changed)
            orders.append((
                i, f"DD-{i:06d}", 1 if status == "created" else 2, status, src, assignee,
                f"R{rnd.randrange(10**7):07d}" if src is not None and rnd.random() < 0.67 else None,
                f"{rnd.randrange(1, 400)} {rnd.choice(STREETS)}, {town_a} LS{rnd.randrange(1, 30)} {rnd.randrange(1, 9)}AA",
                f"{rnd.randrange(1, 300)} {rnd.choice(STREETS)}, {town_b}",
                None, None, 1 + i % 5, float(i % 50),
                1 if status in ("delivered", "rejected", "cancelled") and rnd.random() < 0.15 else 0,
                1 if i % 97 == 0 else 0, 1 if status == "rejected" and i % 7 == 0 else 0,
                c, c if src is not None else None, ch))
            for k in range(1 + (i % 4 == 0)):
                lines.append((i, k + 1, ARTICLES[(i + k) % len(ARTICLES)], "goods", 1 + rnd.randrange(5), 0))
            if i % 10 == 0:
                tags.append((i, TAGS[i % len(TAGS)]))
            if assignee and i % 5 == 0:
                state = rnd.choice(("queued", "sent", "acknowledged", "failed"))
                notices.append((str(uuid.UUID(int=rnd.getrandbits(128))), i, assignee, "order.new", "http",
                                "{}", state, 1, 1, c, 0))
            if i % 50 == 0:
                followups.append((i, "Phone the partner", c, 0))
            audit.append((i, c, "bench", "create", None, "created", "", empty, empty, 1))
            if status != "created":
                audit.append((i, ch, "bench", "move", "created", status, "", empty, empty, 2))
        yield out


COLS = {"orders": ORDER_COLS, "order_lines": LINE_COLS, "tags": TAG_COLS, "notices": NOTICE_COLS,
        "followups": FOLLOWUP_COLS, "audit": AUDIT_COLS}


def _partners(target: str) -> dict[str, int]:
    from dispatchdesk.services import Depot, PartnerInput, add_partner, queries

    depot = Depot.open(target, actor="bench")
    try:
        have = {p.name for p in queries.partners(depot)}
        for name, role in PARTNERS:
            if name not in have:
                add_partner(depot, PartnerInput(name=name, role=role))
        with depot.uow(write=False) as uow:
            from sqlalchemy import text
            return {name: pid for pid, name in uow.session.execute(text("SELECT id, name FROM partners"))}
    finally:
        depot.close()


def _build_sqlite(path: str, n: int, ids: dict[str, int], seed: int) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA cache_size = -200000")
        schema = con.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL "
            "AND type IN ('index', 'trigger') AND tbl_name IN ({})".format(",".join("?" * len(COLS))),
            tuple(COLS)).fetchall()
        con.execute("BEGIN")
        for kind, name, _table, _sql in schema:
            con.execute(f'DROP {kind.upper()} "{name}"')
        for batch in _rows(n, ids, seed):
            for table, rows in batch.items():
                if rows:
                    cols = COLS[table]
                    con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                    rows)
        for _kind, _name, _table, sql in sorted(schema, key=lambda r: r[0] != "index"):
            con.execute(sql)
        _refill_sqlite(con)
        con.execute("UPDATE depot SET next_order_seq = ?, change_seq = change_seq + 1 WHERE id = 1", (n + 1,))
        con.execute("COMMIT")
        con.execute("PRAGMA optimize")
    finally:
        con.close()


def _refill_sqlite(con: sqlite3.Connection) -> None:
    """Fill the derived tables the triggers keep (dropped during the bulk insert) in one go."""
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "order_search" in tables:
        con.execute("INSERT INTO order_search(order_search) VALUES ('rebuild')")
    if "board_counts" in tables:
        con.execute("DELETE FROM board_counts")
        con.execute("INSERT INTO board_counts (list, n) SELECT CASE WHEN archived THEN 'archived' ELSE status END,"
                    " count(*) FROM orders GROUP BY 1")


def _build_postgres(url: str, n: int, ids: dict[str, int], seed: int) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as con, con.cursor() as cur:
        for batch in _rows(n, ids, seed):
            for table, rows in batch.items():
                if not rows:
                    continue
                cols = COLS[table]
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(_pg_row(table, row))
        for table in ("orders", "order_lines", "tags", "followups", "audit"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))")
        cur.execute("UPDATE depot SET next_order_seq = %s, change_seq = change_seq + 1 WHERE id = 1", (n + 1,))
        if _pg_has(cur, "board_counts"):
            cur.execute("DELETE FROM board_counts")
            cur.execute("INSERT INTO board_counts (list, n) SELECT CASE WHEN archived THEN 'archived' "
                        "ELSE status END, count(*) FROM orders GROUP BY 1")
        con.commit()
        cur.execute("ANALYZE")


def _pg_has(cur: Any, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s)", (table,))
    return cur.fetchone()[0] is not None


_PG_BOOL = {"orders": (13, 14, 15), "notices": (10,), "followups": (3,)}


def _pg_row(table: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
    bools = _PG_BOOL.get(table)
    if not bools:
        return row
    out = list(row)
    for k in bools:
        out[k] = bool(out[k])
    return tuple(out)


def build(target: str | Path, n: int, *, seed: int = 1) -> None:
    """Make a depot of `n` orders at `target` (an SQLite path, or a database URL of an empty
    PostgreSQL database), by the real migrations and a bulk insert."""
    target = str(target)
    ids = _partners(target)
    if "://" in target and not target.startswith("sqlite"):
        _build_postgres(target, n, ids, seed)
    else:
        path = target.split("sqlite:///", 1)[-1]
        _build_sqlite(path, n, ids, seed)


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target")
    parser.add_argument("orders", type=int)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    t = time.perf_counter()
    build(args.target, args.orders, seed=args.seed)
    print(f"built {args.orders:,} orders in {time.perf_counter() - t:.1f} s: {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["build", "PARTNERS", "TOWNS"]

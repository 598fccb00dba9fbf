"""Many new orders at once on SQLite, without migration 0008's per-row triggers.

0008 keeps the text index (`order_search`, FTS5) and the board's counts (`board_counts`) current
with triggers on `orders`, a few rows' work for every order written. For an import of many
orders in one transaction that per-row work grows much faster than the file (raw inserts with
the triggers and a 64 MB page cache, one transaction: 40,000 orders 23 s of CPU; with the
triggers off and the index filled at the end by one statement: 1.7 s).
`OrderTriggersOff` drops those triggers inside the caller's transaction, and `fill` writes the
new orders' part of the index in one INSERT ... SELECT (with a bigger FTS5 buffer) and their
counts in one grouped upsert, then makes the triggers again with the migration's own statements.

SQLite's DDL is transactional: a rollback anywhere (a problem found, an error, a crash) brings
back the triggers, the index and the counts exactly as they were. A write transaction (BEGIN
IMMEDIATE) holds the database's write lock throughout, so no other writer changes `orders`
while the triggers are off; readers see the old schema and data until the commit.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from sqlalchemy import text

#: FTS5's in-memory buffer of pending terms while the new orders are indexed, in bytes (its
#: 'hashsize' option; the default is 1 MiB). Each time it fills, FTS5 writes a segment and its
#: automerge merges segments again; a bigger buffer means fewer, larger segments. Measured on
#: 400,000 orders (CPU of the one INSERT ... SELECT): 1 MiB 20.9 s, 8 MiB 8.5 s, 16 MiB 7.8 s,
#: 32 MiB 6.4 s. Bounded, so the import's memory stays flat however big the file.
FILL_HASH_BYTES = 32 * 1024 * 1024
#: FTS5's own default, set back before the option's row is removed
_FTS5_HASH_DEFAULT = 1024 * 1024


def _m0008() -> ModuleType:
    # the migration's own statements (its file name starts with a digit: import it by name)
    return importlib.import_module("dispatchdesk.store.migrations.versions.0008_search_and_counts")


class OrderTriggersOff:
    """On one SQLite connection inside its write transaction: `OrderTriggersOff(conn)` drops the
    text index's and the counts' triggers; every order written after it with an id above
    `after_id` is new; `fill()` indexes and counts those orders and makes the triggers again.
    Orders written meanwhile must only be inserted (an update or delete of an order while the
    triggers are off would leave the index and the counts wrong)."""

    def __init__(self, conn: Any, after_id: int) -> None:
        self.conn, self.after_id = conn, after_id
        m = _m0008()
        self._m = m
        for name in m.SQLITE_TRIGGERS:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
        self.on = False

    def fill(self) -> None:
        """The new orders into the text index and the counts; the triggers made again."""
        m, conn = self._m, self.conn
        cols = ", ".join(m.SEARCH_COLUMNS)
        # one statement: FTS5 gathers the new terms in a bigger buffer and writes few segments;
        # the option is set back to the default and its row removed: the index's settings are
        # as the migration made them (and a rollback undoes all three anyway)
        option = "INSERT INTO order_search(order_search, rank) VALUES ('hashsize', :n)"
        conn.execute(text(option), {"n": FILL_HASH_BYTES})
        conn.execute(text(f"INSERT INTO order_search(rowid, {cols}) SELECT id, {cols} FROM orders "
                          "WHERE id > :after ORDER BY id"), {"after": self.after_id})
        conn.execute(text(option), {"n": _FTS5_HASH_DEFAULT})
        conn.execute(text("DELETE FROM order_search_config WHERE k = 'hashsize'"))
        conn.execute(text(
            f"INSERT INTO board_counts (list, n) SELECT {m.LIST_OF.format('orders')}, count(*) FROM orders "
            "WHERE id > :after GROUP BY 1 "
            "ON CONFLICT (list) DO UPDATE SET n = board_counts.n + excluded.n"), {"after": self.after_id})
        m.create_counts(conn)
        m.create_search_triggers(conn)
        self.on = True

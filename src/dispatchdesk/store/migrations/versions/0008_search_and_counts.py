"""search and counts that do not grow with the depot (issue 13 item 1):

- `board_counts`: how many orders each list of the board holds (a status, or "archived"),
  kept by triggers on `orders` in the same transaction as the change; the board reads its
  titles from it instead of counting every order at start.
- the searchable text of every order (number, partner's reference, both addresses) in a text
  index kept current by triggers in the same transaction: on SQLite an FTS5 table with the
  trigram tokenizer (`order_search`, external content: it holds only the index), on PostgreSQL a
  pg_trgm GIN index on the same text. The triggers fire only when one of those columns is
  written, so a status change never touches the index.

Mind, later migrations: rebuilding `orders` by Alembic's batch mode (copy and move) drops the
triggers; make them again (`create_search(bind)`, `create_counts(bind)`) after such a rebuild.
tests/store/test_search_index.py checks every change keeps both current.

Revision ID: 0008
Revises: 0006 (re-chained at merge)
"""

import logging

from alembic import op
from sqlalchemy import text

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

log = logging.getLogger("dispatchdesk.migrations")

#: The key of an order's list: its status, or "archived".
LIST_OF = "CASE WHEN {0}.archived THEN 'archived' ELSE {0}.status END"
SEARCH_COLUMNS = ("number", "partner_ref", "pickup_address", "delivery_address")
#: The text PostgreSQL indexes (services/search.py uses the very same expression).
PG_SEARCH_TEXT = ("(number || ' ' || coalesce(partner_ref, '') || ' ' || pickup_address || ' ' "
                  "|| delivery_address)")

#: The text index's triggers on SQLite (services/importer.py drops them for a bulk import and
#: makes them again with create_search_triggers, in the import's transaction).
SQLITE_SEARCH_TRIGGERS = [
    "CREATE TRIGGER orders_search_insert AFTER INSERT ON orders BEGIN "
    "INSERT INTO order_search(rowid, number, partner_ref, pickup_address, delivery_address) "
    "VALUES (new.id, new.number, new.partner_ref, new.pickup_address, new.delivery_address); END",
    "CREATE TRIGGER orders_search_delete AFTER DELETE ON orders BEGIN "
    "INSERT INTO order_search(order_search, rowid, number, partner_ref, pickup_address, delivery_address) "
    "VALUES ('delete', old.id, old.number, old.partner_ref, old.pickup_address, old.delivery_address); END",
    "CREATE TRIGGER orders_search_update AFTER UPDATE OF number, partner_ref, pickup_address, delivery_address "
    "ON orders BEGIN "
    "INSERT INTO order_search(order_search, rowid, number, partner_ref, pickup_address, delivery_address) "
    "VALUES ('delete', old.id, old.number, old.partner_ref, old.pickup_address, old.delivery_address); "
    "INSERT INTO order_search(rowid, number, partner_ref, pickup_address, delivery_address) "
    "VALUES (new.id, new.number, new.partner_ref, new.pickup_address, new.delivery_address); END",
]
SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE order_search USING fts5(number, partner_ref, pickup_address, delivery_address, "
    "content='orders', content_rowid='id', tokenize='trigram')",
    "INSERT INTO order_search(order_search) VALUES ('rebuild')",
    *SQLITE_SEARCH_TRIGGERS,
]

_PLUS_ONE = ("INSERT INTO board_counts (list, n) VALUES ({list}, 1) "
             "ON CONFLICT (list) DO UPDATE SET n = board_counts.n + 1")
_MINUS_ONE = "UPDATE board_counts SET n = n - 1 WHERE list = {list}"

SQLITE_COUNTS = [
    "CREATE TRIGGER orders_count_insert AFTER INSERT ON orders BEGIN "
    + _PLUS_ONE.format(list=LIST_OF.format("new")) + "; END",
    "CREATE TRIGGER orders_count_delete AFTER DELETE ON orders BEGIN "
    + _MINUS_ONE.format(list=LIST_OF.format("old")) + "; END",
    "CREATE TRIGGER orders_count_update AFTER UPDATE OF status, archived ON orders "
    f"WHEN {LIST_OF.format('old')} IS NOT {LIST_OF.format('new')} BEGIN "
    + _MINUS_ONE.format(list=LIST_OF.format("old")) + "; "
    + _PLUS_ONE.format(list=LIST_OF.format("new")) + "; END",
]

#: The names of the triggers above (SQLite), for dropping them.
SQLITE_TRIGGERS = ("orders_search_insert", "orders_search_delete", "orders_search_update",
                   "orders_count_insert", "orders_count_delete", "orders_count_update")

PG_COUNTS = [
    "CREATE FUNCTION dispatchdesk_board_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP IN ('UPDATE', 'DELETE') THEN "
    + _MINUS_ONE.format(list=LIST_OF.format("OLD")) + "; END IF; "
    "IF TG_OP IN ('UPDATE', 'INSERT') THEN "
    + _PLUS_ONE.format(list=LIST_OF.format("NEW")) + "; END IF; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER orders_count_change AFTER INSERT OR DELETE ON orders "
    "FOR EACH ROW EXECUTE FUNCTION dispatchdesk_board_count()",
    "CREATE TRIGGER orders_count_update AFTER UPDATE OF status, archived ON orders FOR EACH ROW "
    f"WHEN ({LIST_OF.format('OLD')} IS DISTINCT FROM {LIST_OF.format('NEW')}) "
    "EXECUTE FUNCTION dispatchdesk_board_count()",
]

PG_NO_TRGM = (
    "PostgreSQL: the pg_trgm extension could not be made ({error}); filtering still works, "
    "without a text index, so it slows as the depot grows. Ask the database's owner to run "
    "CREATE EXTENSION pg_trgm; and CREATE INDEX ix_orders_search ON orders USING gin ("
    + PG_SEARCH_TEXT + " gin_trgm_ops);"
)


def create_counts(bind) -> None:  # type: ignore[no-untyped-def]
    for sql in (SQLITE_COUNTS if bind.dialect.name == "sqlite" else PG_COUNTS):
        bind.execute(text(sql))


def create_search_triggers(bind) -> None:  # type: ignore[no-untyped-def]
    """SQLite: the text index's triggers only (the index itself exists)."""
    for sql in SQLITE_SEARCH_TRIGGERS:
        bind.execute(text(sql))


def create_search(bind) -> None:  # type: ignore[no-untyped-def]
    if bind.dialect.name == "sqlite":
        for sql in SQLITE_SEARCH:
            bind.execute(text(sql))
        return
    # a role that may not make extensions: the transaction goes on without the index
    try:
        with bind.begin_nested():
            bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            bind.execute(text(f"CREATE INDEX ix_orders_search ON orders USING gin ({PG_SEARCH_TEXT} gin_trgm_ops)"))
    except Exception as e:  # noqa: BLE001 - any refusal: say it, and go on without the index
        first = str(getattr(e, "orig", e)).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        log.warning(PG_NO_TRGM.format(error=first))


def upgrade() -> None:
    bind = op.get_bind()
    op.execute("CREATE TABLE board_counts (list VARCHAR(20) NOT NULL PRIMARY KEY, n INTEGER NOT NULL)")
    op.execute(f"INSERT INTO board_counts (list, n) SELECT {LIST_OF.format('orders')}, count(*) FROM orders "
               "GROUP BY 1")
    create_counts(bind)
    create_search(bind)
    # the list Archived in its order without sorting every archived order (only archived rows:
    # a status change of a working order does not touch it)
    op.create_index("ix_orders_archived_board", "orders", ["status_changed_at", "id"],
                    sqlite_where=text("archived IS 1"), postgresql_where=text("archived IS true"))
    # statistics, so SQLite's planner walks that index rather than sort the archived orders
    op.execute("ANALYZE")


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_index("ix_orders_archived_board", table_name="orders")
    if bind.dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS order_search")
    else:
        op.execute("DROP TRIGGER IF EXISTS orders_count_change ON orders")
        op.execute("DROP TRIGGER IF EXISTS orders_count_update ON orders")
        op.execute("DROP FUNCTION IF EXISTS dispatchdesk_board_count()")
        op.execute("DROP INDEX IF EXISTS ix_orders_search")
    op.execute("DROP TABLE board_counts")

"""The board's lists are read by walking an index in the lists' order, never by sorting a whole
list: on a depot without statistics for `orders` (a new depot is analysed while still empty)
SQLite used to take the index on `archived` alone for the Archived list and sort every archived
order, 200 ms a page at 1,000,000 orders."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from dispatchdesk.services import queries


def _plans(depot: Any, read: Any) -> list[str]:
    """The query plans of the statements `read()` runs that read orders' cards."""
    seen: list[tuple[str, Any]] = []
    engine = depot.db.engine

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "ORDER BY" in statement and "orders" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", note)
    try:
        read()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    plans = []
    with engine.connect() as conn:
        for statement, parameters in seen:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            plans.append(" | ".join(str(r[-1]) for r in rows))
    return plans


def test_the_archived_list_walks_its_partial_index_without_sorting(fresh: Any) -> None:
    plans = _plans(fresh, lambda: (queries.board_page(fresh, queries.ARCHIVED, 0, 50),
                                   queries.board_pages(fresh, [(queries.ARCHIVED, 50, 50)])))
    assert len(plans) == 2
    for plan in plans:
        assert "ix_orders_archived_board" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


def test_a_status_list_walks_its_index_without_sorting(fresh: Any) -> None:
    plans = _plans(fresh, lambda: queries.board_page(fresh, "created", 0, 50))
    assert plans and all("TEMP B-TREE" not in p for p in plans), plans
